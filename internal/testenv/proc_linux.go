package testenv

import "syscall"

// sysProcAttr puts the child in its own process group (so that stop reaches
// anything it spawns) and kills it if the test process dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
