package mesh

import (
	"fmt"
	"slices"
	"strings"
)

// KubeSystem is the namespace whose UID names an API server: every cluster
// has one, created once, never recreated.
const KubeSystem = "kube-system"

// IsAlias reports whether this context reaches the API server of another
// context, which then represents both.
func (c *Cluster) IsAlias() bool { return c.AliasOf != "" }

// AliasGroup is several contexts of one API server.
type AliasGroup struct {
	// Representative is the context whose results stand for the group.
	Representative string
	// Members are all contexts of the group, representative included, in
	// name order.
	Members []string
	// How tells how the contexts were found to be one server.
	How string
}

// Aliases returns the groups of contexts that reach one API server, in
// order of their representative.
func (m *Mesh) Aliases() []AliasGroup {
	var out []AliasGroup
	for _, c := range m.Clusters {
		if len(c.Aliases) == 0 {
			continue
		}
		members := append([]string{c.Name}, c.Aliases...)
		slices.Sort(members)
		out = append(out, AliasGroup{Representative: c.Name, Members: members, How: c.AliasHow})
	}
	return out
}

// findAliases groups contexts that reach one API server: the same server
// URL with the same CA, or the same kube-system namespace UID (the
// strongest sign: an API server behind two URLs or two load balancers).
// In each group the reachable context with the fewest unreadable resources
// represents the group, the one named as the cluster's clusterName if
// there is one, else the first by name; the others are marked
// AliasOf it, and the checks leave them out, so that one API server is
// never compared with itself.
func findAliases(cs []*Cluster) {
	parent := make([]int, len(cs))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	type link struct {
		i   int
		why string
	}
	var links []link
	first := map[string]int{}
	join := func(key string, i int, why string) {
		j, ok := first[key]
		if !ok {
			first[key] = i
			return
		}
		if a, b := find(i), find(j); a != b {
			parent[a] = b
		}
		links = append(links, link{i, why})
	}
	for i, c := range cs {
		if s := strings.TrimSuffix(c.Inv.Server, "/"); s != "" {
			join("server\x00"+s+"\x00"+c.Inv.CAFingerprint, i, "same server URL and CA")
		}
		if ns := c.Inv.Namespace(KubeSystem); ns != nil && ns.UID != "" {
			join("uid\x00"+string(ns.UID), i, "same kube-system namespace UID")
		}
	}
	how := map[int][]string{}
	for _, l := range links {
		root := find(l.i)
		if !slices.Contains(how[root], l.why) {
			how[root] = append(how[root], l.why)
		}
	}
	groups := map[int][]int{}
	for i := range cs {
		groups[find(i)] = append(groups[find(i)], i)
	}
	for root, idx := range groups {
		if len(idx) < 2 {
			continue
		}
		rep := slices.MinFunc(idx, func(a, b int) int {
			ca, cb := cs[a], cs[b]
			if ca.Reachable() != cb.Reachable() {
				if ca.Reachable() {
					return -1
				}
				return 1
			}
			if d := len(ca.Inv.Errors) - len(cb.Inv.Errors); d != 0 {
				return d
			}
			if (ca.Name == ca.ID) != (cb.Name == cb.ID) {
				if ca.Name == ca.ID {
					return -1
				}
				return 1
			}
			return strings.Compare(ca.Name, cb.Name)
		})
		r := cs[rep]
		slices.Sort(how[root])
		r.AliasHow = strings.Join(how[root], ", ")
		for _, i := range idx {
			if i == rep {
				continue
			}
			cs[i].AliasOf, cs[i].AliasHow = r.Name, r.AliasHow
			r.Aliases = append(r.Aliases, cs[i].Name)
		}
		slices.Sort(r.Aliases)
	}
}

// String names an alias group for messages.
func (g AliasGroup) String() string {
	return fmt.Sprintf("%s (as %s)", strings.Join(g.Members, ", "), g.Representative)
}
