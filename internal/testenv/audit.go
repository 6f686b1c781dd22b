package testenv

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

// AuditEvent is the part of an audit.k8s.io/v1 Event that the tests read.
type AuditEvent struct {
	Stage      string `json:"stage"`
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	User       struct {
		Username string   `json:"username"`
		Groups   []string `json:"groups"`
	} `json:"user"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// AuditEvents reads a cluster's audit log.
func (e *Env) AuditEvents(name string) ([]AuditEvent, error) {
	path := e.AuditLog(name)
	if path == "" {
		return nil, fmt.Errorf("no cluster %s", name)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	defer f.Close()
	var out []AuditEvent
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		var ev AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, ev)
	}
	return out, sc.Err()
}

// Writes returns the events in which user asked to change something: verbs
// create, update, patch, delete and deletecollection, except create on the
// pods/exec and pods/portforward subresources (how Kubernetes authorizes
// exec and port-forward, which change no object). Denied requests count
// too: a read-only tool must not even try.
func Writes(events []AuditEvent, user string) []AuditEvent {
	var out []AuditEvent
	for _, ev := range events {
		if ev.User.Username != user || !slices.Contains([]string{"create", "update", "patch", "delete", "deletecollection"}, ev.Verb) {
			continue
		}
		if ev.Verb == "create" && ev.ObjectRef != nil && ev.ObjectRef.Resource == "pods" &&
			(ev.ObjectRef.Subresource == "exec" || ev.ObjectRef.Subresource == "portforward") {
			continue
		}
		out = append(out, ev)
	}
	return out
}
