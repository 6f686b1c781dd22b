package ui

import (
	"fmt"
	"slices"
	"strings"

	"github.com/meshdoctor/meshdoctor/internal/checks"
	"github.com/meshdoctor/meshdoctor/internal/report"
)

type rowKind int

const (
	rowGroup  rowKind = iota // a group header
	rowResult                // one result of a check
	rowCheck                 // a check with no results yet
)

// row is one line of the list.
type row struct {
	kind  rowKind
	key   string // stable identity across rebuilds, for the selection
	group string
	e     *entry
	res   checks.Result // rowResult only
	rank  int
	// src is the result in its entry, for matching a row to its place in
	// the problems group during rebuild.
	src *checks.Result

	// group rows only
	counts    [5]int
	running   int
	waiting   int
	items     int
	collapsed bool
}

type rowOptions struct {
	groupBy      groupMode
	order        sortMode
	failuresOnly bool
	filter       string
	contexts     []string
}

// listPane is the grouped result list: the rows, the selection and the
// scroll offset.
type listPane struct {
	rows        []row
	items       []row // every item row in display order, collapsed groups too
	cursor      int
	offset      int
	height      int
	collapsed   map[string]bool     // by groupMode and group name
	groupChecks map[string][]string // group → check IDs, collapsed or not
	shown       int                 // item rows passing the filters
	total       int                 // item rows before the filters
	idW, subjW  int                 // column widths over shown items
	mode        groupMode
}

// rank orders items: problems that no other explains first (fail, error,
// warn), then the problems they explain (consequences), then pass and
// skipped, then checks still running, waiting, and not run.
func rank(e *entry, r *checks.Result) int {
	if r != nil {
		consequence := 0
		if len(r.CausedBy) > 0 {
			consequence = 3
		}
		switch r.Status {
		case checks.Fail:
			return 0 + consequence
		case checks.Error:
			return 1 + consequence
		case checks.Warn:
			return 2 + consequence
		case checks.Pass:
			return 6
		case checks.Skipped:
			return 7
		}
		return 8
	}
	switch e.state {
	case running:
		return 9
	case queued:
		return 10
	}
	return 11
}

// problemsGroup is the group on top in failures-first order: every
// problem, causes first, each followed by what it explains.
const problemsGroup = "problems"

// problemOrder returns a row for every problem among the entries' results
// in the order of report.CausesFirst (the table's order), with the blocks
// of a cause and its consequences ordered by the cause's status (fail,
// error, warn) so that the worst cause comes first. Keys are set later.
func problemOrder(entries []*entry) []row {
	type ref struct {
		e   *entry
		src *checks.Result
	}
	var rs []checks.Result
	byKey := map[string][]ref{}
	for _, e := range entries {
		for i := range e.results {
			r := &e.results[i]
			if !r.Problem() {
				continue
			}
			rs = append(rs, *r)
			byKey[r.Key()] = append(byKey[r.Key()], ref{e, r})
		}
	}
	if len(rs) == 0 {
		return nil
	}
	var blocks [][]row
	for _, o := range report.CausesFirst(rs) {
		if !o.Problem() {
			continue
		}
		refs := byKey[o.Key()]
		if len(refs) == 0 {
			continue
		}
		byKey[o.Key()] = refs[1:]
		rw := row{kind: rowResult, e: refs[0].e, res: *refs[0].src, src: refs[0].src}
		if !o.Consequence || len(blocks) == 0 {
			blocks = append(blocks, nil)
		}
		blocks[len(blocks)-1] = append(blocks[len(blocks)-1], rw)
	}
	slices.SortStableFunc(blocks, func(a, b []row) int {
		return rank(a[0].e, &a[0].res) - rank(b[0].e, &b[0].res)
	})
	var out []row
	for _, b := range blocks {
		out = append(out, b...)
	}
	return out
}

// consequenceMark starts the check ID of a problem that another explains.
const consequenceMark = "└ "

// displayID is the check ID as the list shows it: grouped by area, the
// area is the group header and is left out; a consequence is marked.
func displayID(g groupMode, r *row) string {
	id := r.e.check.ID
	if g == byArea && r.group != problemsGroup {
		id = strings.TrimPrefix(id, r.e.check.Area()+".")
	}
	if r.kind == rowResult && len(r.res.CausedBy) > 0 {
		id = consequenceMark + id
	}
	return id
}

func collapseKey(g groupMode, name string) string { return fmt.Sprintf("%d/%s", g, name) }

func matches(terms []string, e *entry, r *checks.Result) bool {
	if len(terms) == 0 {
		return true
	}
	var b strings.Builder
	b.WriteString(e.check.ID + " " + e.check.Title)
	if r != nil {
		b.WriteString(" " + r.Subject() + " " + r.Message + " " + r.Status.String())
		for _, ev := range r.Evidence {
			b.WriteString(" " + ev.Key + " " + ev.Value)
		}
	}
	hay := strings.ToLower(b.String())
	for _, t := range terms {
		if !strings.Contains(hay, t) {
			return false
		}
	}
	return true
}

// rebuild recomputes the rows from the entries, keeping the selection on
// the same row when it still exists.
//
// follow keeps the selection on the same row; without it (the user has not
// moved yet) the selection stays at the top while rows arrive.
func (l *listPane) rebuild(entries []*entry, o rowOptions, height int, follow bool) {
	prev := l.selectedKey()
	if !follow {
		prev = ""
	}
	l.height = max(1, height)
	l.mode = o.groupBy
	terms := strings.Fields(strings.ToLower(o.filter))

	type group struct {
		name  string
		seq   int
		items []row
		head  row
	}
	groups := map[string]*group{}
	var order []*group
	get := func(name string) *group {
		g := groups[name]
		if g == nil {
			g = &group{name: name, seq: len(order), head: row{kind: rowGroup, key: "g/" + name, group: name, rank: 99}}
			groups[name] = g
			order = append(order, g)
		}
		return g
	}
	if o.groupBy == byCluster {
		// Mesh first, then the contexts in the header's order.
		get("mesh")
		for _, c := range o.contexts {
			get(c)
		}
	}
	l.groupChecks = map[string][]string{}
	l.total, l.shown = 0, 0
	seen := map[string]int{}
	// Failures first: one group of problems on top, each cause followed by
	// the problems it explains, in the order every output uses
	// (report.CausesFirst); the other groups hold the rest.
	inProblems := map[*checks.Result]bool{}
	var problemRows []row
	if o.order == failuresFirst {
		problemRows = problemOrder(entries)
		for i := range problemRows {
			inProblems[problemRows[i].src] = true
		}
		if len(problemRows) > 0 {
			get(problemsGroup)
		}
	}
	for _, e := range entries {
		add := func(name string, it row) {
			g := get(name)
			if ids := l.groupChecks[name]; len(ids) == 0 || ids[len(ids)-1] != e.check.ID {
				l.groupChecks[name] = append(ids, e.check.ID)
			}
			l.total++
			var rp *checks.Result
			if it.kind == rowResult {
				rp = &it.res
			}
			if o.failuresOnly && (rp == nil || !(rp.Status == checks.Fail || rp.Status == checks.Error || rp.Status == checks.Warn)) {
				return
			}
			if !matches(terms, e, rp) {
				return
			}
			it.group, it.rank = name, rank(e, rp)
			g.items = append(g.items, it)
		}
		if len(e.results) == 0 {
			name := e.check.Area()
			if o.groupBy == byCluster {
				name = "pending"
			}
			add(name, row{kind: rowCheck, key: "c/" + e.check.ID, e: e})
			continue
		}
		for i := range e.results {
			r := e.results[i]
			k := "r/" + e.check.ID + "|" + r.Cluster + "|" + r.Peer + "|" + r.Target
			seen[k]++
			key := fmt.Sprintf("%s|%d", k, seen[k])
			if inProblems[&e.results[i]] {
				for j := range problemRows {
					if problemRows[j].src == &e.results[i] {
						problemRows[j].key = key
					}
				}
				continue
			}
			name := r.Area()
			if o.groupBy == byCluster {
				name = r.Cluster
				if name == "" {
					name = "mesh"
				}
			}
			add(name, row{kind: rowResult, key: key, e: e, res: r})
		}
	}
	for _, pr := range problemRows {
		e := pr.e
		g := get(problemsGroup)
		if ids := l.groupChecks[problemsGroup]; !slices.Contains(ids, e.check.ID) {
			l.groupChecks[problemsGroup] = append(ids, e.check.ID)
		}
		l.total++
		if !matches(terms, e, &pr.res) {
			continue
		}
		pr.group, pr.rank = problemsGroup, rank(e, &pr.res)
		g.items = append(g.items, pr)
	}
	for _, g := range order {
		if o.order == failuresFirst && g.name != problemsGroup {
			slices.SortStableFunc(g.items, func(a, b row) int { return a.rank - b.rank })
		}
		for _, it := range g.items {
			g.head.rank = min(g.head.rank, it.rank)
			switch {
			case it.e.state == running:
				g.head.running++
			case it.e.state == queued:
				g.head.waiting++
			case it.kind == rowResult && int(it.res.Status) < 5:
				g.head.counts[it.res.Status]++
			}
		}
		g.head.items = len(g.items)
	}
	if o.order == failuresFirst {
		slices.SortStableFunc(order, func(a, b *group) int {
			if (a.name == problemsGroup) != (b.name == problemsGroup) {
				if a.name == problemsGroup {
					return -1
				}
				return 1
			}
			return a.head.rank - b.head.rank
		})
	}
	l.rows = l.rows[:0]
	l.items = l.items[:0]
	l.idW, l.subjW = 0, 0
	for _, g := range order {
		if len(g.items) == 0 {
			continue
		}
		g.head.collapsed = l.collapsed[collapseKey(o.groupBy, g.name)]
		l.items = append(l.items, g.items...)
		l.rows = append(l.rows, g.head)
		l.shown += len(g.items)
		for _, it := range g.items {
			l.idW = max(l.idW, len([]rune(displayID(o.groupBy, &it))))
			if it.kind == rowResult {
				l.subjW = max(l.subjW, len([]rune(it.res.Subject())))
			}
		}
		if !g.head.collapsed {
			l.rows = append(l.rows, g.items...)
		}
	}
	l.cursor = min(l.cursor, max(0, len(l.rows)-1))
	for i := range l.rows {
		if l.rows[i].key == prev {
			l.cursor = i
			break
		}
	}
	l.clampOffset()
}

func (l *listPane) selected() *row {
	if l.cursor < 0 || l.cursor >= len(l.rows) {
		return nil
	}
	return &l.rows[l.cursor]
}

func (l *listPane) selectedKey() string {
	if r := l.selected(); r != nil {
		return r.key
	}
	return ""
}

func (l *listPane) move(delta int) {
	l.cursor = max(0, min(len(l.rows)-1, l.cursor+delta))
	l.clampOffset()
}

// scroll moves the window by delta rows, dragging the selection along when
// it would leave the window.
func (l *listPane) scroll(delta int) {
	l.offset = max(0, min(len(l.rows)-l.height, l.offset+delta))
	l.cursor = max(l.offset, min(l.offset+l.height-1, l.cursor))
	l.cursor = max(0, min(len(l.rows)-1, l.cursor))
}

// clickRow selects the i-th visible row.
func (l *listPane) clickRow(i int) bool {
	if i < 0 || l.offset+i >= len(l.rows) {
		return false
	}
	l.cursor = l.offset + i
	return true
}

func (l *listPane) clampOffset() {
	if l.cursor < l.offset {
		l.offset = l.cursor
	}
	if l.cursor >= l.offset+l.height {
		l.offset = l.cursor - l.height + 1
	}
	l.offset = max(0, min(l.offset, len(l.rows)-l.height))
}

// toggle collapses or expands the selected group (the selected item's
// group, moving the selection to its header).
func (l *listPane) toggle() {
	r := l.selected()
	if r == nil {
		return
	}
	name := r.group
	if r.kind != rowGroup {
		for i := l.cursor; i >= 0; i-- {
			if l.rows[i].kind == rowGroup {
				l.cursor = i
				break
			}
		}
	}
	k := collapseKey(l.mode, name)
	l.collapsed[k] = !l.collapsed[k]
}

// selectFirstFailure puts the selection on the first fail or error result,
// else leaves it.
func (l *listPane) selectFirstFailure() {
	for i, r := range l.rows {
		if r.kind == rowResult && (r.res.Status == checks.Fail || r.res.Status == checks.Error) {
			l.cursor = i
			// Show the group header above it too.
			l.offset = min(l.offset, max(0, i-1))
			l.clampOffset()
			return
		}
	}
}
