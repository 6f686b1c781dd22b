package ui

import "github.com/charmbracelet/bubbles/key"

// keyMap declares every key once; the same bindings drive Update and the
// help bar.
//
// The issue asked for j/x to export JSON/JUnit, but j is "down" in the vim
// keys the list also takes, so the exports are on J and X. Enter is both
// Jump and Toggle: Update tries Jump first (a cause or a consequence is
// selected) and folds the group otherwise; space always folds.
type keyMap struct {
	Up, Down, PageUp, PageDown, Home, End key.Binding
	NextProblem, PrevProblem, Jump, Back  key.Binding
	Toggle, Filter, ClearFilter, Failures key.Binding
	Zoom, Map                             key.Binding
	Group, Sort                           key.Binding
	Rerun, RerunAll, Copy                 key.Binding
	ExportJSON, ExportJUnit               key.Binding
	DetailDown, DetailUp                  key.Binding
	Help, Quit                            key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Up:          key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:        key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:      key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown:    key.NewBinding(key.WithKeys("pgdown", "ctrl+f"), key.WithHelp("pgdn", "page down")),
		Home:        key.NewBinding(key.WithKeys("home"), key.WithHelp("home", "first")),
		End:         key.NewBinding(key.WithKeys("end"), key.WithHelp("end", "last")),
		NextProblem: key.NewBinding(key.WithKeys("n"), key.WithHelp("n/N", "next problem")),
		PrevProblem: key.NewBinding(key.WithKeys("N"), key.WithHelp("N", "previous problem")),
		// Enter on a cause jumps to its first consequence, on a
		// consequence to its cause; elsewhere it folds the group (Toggle).
		Jump:        key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "cause⇄effect")),
		Back:        key.NewBinding(key.WithKeys("backspace", "b"), key.WithHelp("b/bksp", "back from a jump")),
		Toggle:      key.NewBinding(key.WithKeys(" ", "enter"), key.WithHelp("spc", "fold group")),
		Zoom:        key.NewBinding(key.WithKeys("z", "tab"), key.WithHelp("z", "zoom")),
		Map:         key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "map")),
		Filter:      key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		ClearFilter: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
		Failures:    key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "failures")),
		Group:       key.NewBinding(key.WithKeys("g"), key.WithHelp("g", "by area/cluster")),
		Sort:        key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "sort order")),
		Rerun:       key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "rerun + dependents")),
		RerunAll:    key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "rerun all")),
		Copy:        key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy fix")),
		ExportJSON:  key.NewBinding(key.WithKeys("J"), key.WithHelp("J", "export JSON")),
		ExportJUnit: key.NewBinding(key.WithKeys("X"), key.WithHelp("X", "export JUnit")),
		DetailDown:  key.NewBinding(key.WithKeys("ctrl+d"), key.WithHelp("ctrl+d", "detail down")),
		DetailUp:    key.NewBinding(key.WithKeys("ctrl+u"), key.WithHelp("ctrl+u", "detail up")),
		Help:        key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:        key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
	}
}

// ShortHelp is the one-line help bar; it fits 80 columns, so that ? and q
// are always on screen (TestShortHelpFits80Columns). z (zoom) is named in
// the detail pane's title instead.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.NextProblem, k.Jump, k.Map, k.Copy, k.Help, k.Quit}
}

// FullHelp is the help shown with ?, one column per concern (N, the
// reverse of n, is named by n's help). Map is disabled when there is no
// map, and help leaves disabled keys out.
func (k keyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End, k.Quit},
		{k.NextProblem, k.Jump, k.Back, k.Zoom, k.DetailDown, k.DetailUp},
		{k.Toggle, k.Group, k.Sort, k.Failures, k.Filter, k.ClearFilter, k.Help},
		{k.Rerun, k.RerunAll, k.Copy, k.ExportJSON, k.ExportJUnit, k.Map},
	}
}

// filterKeyMap is the help while the filter input has the focus.
type filterKeyMap struct{ Accept, Cancel, Quit key.Binding }

func newFilterKeyMap() filterKeyMap {
	return filterKeyMap{
		Accept: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply filter")),
		Cancel: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
		Quit:   key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
	}
}

func (k filterKeyMap) ShortHelp() []key.Binding { return []key.Binding{k.Accept, k.Cancel, k.Quit} }

func (k filterKeyMap) FullHelp() [][]key.Binding { return [][]key.Binding{k.ShortHelp()} }
