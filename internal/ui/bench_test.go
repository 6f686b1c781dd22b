package ui

import (
	"context"
	"fmt"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/meshdoctor/meshdoctor/internal/checks"
)

// BenchmarkFirstFrame measures New+Init to the first View with a 40-check
// catalogue (the target is under 150 ms).
func BenchmarkFirstFrame(b *testing.B) {
	opts := Options{
		Catalogue: bigCatalogue(40),
		Header:    testHeader,
		Source: SourceFunc(func(context.Context, []string) <-chan checks.Event {
			ch := make(chan checks.Event)
			close(ch)
			return ch
		}),
		NoColor: true,
	}
	for b.Loop() {
		m := New(opts)
		_ = m.Init()
		m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
		if m.View() == "" {
			b.Fatal("empty frame")
		}
	}
}

// BenchmarkFirstFrameReading measures what the first frame of a live run
// costs: New, Init, the size, the InventoryStarted event of 50 contexts
// and the View that shows them being read (80×24). The frame comes at
// once; the 150 ms of the issue is spent nowhere near here.
func BenchmarkFirstFrameReading(b *testing.B) {
	var names []string
	for i := range 50 {
		names = append(names, fmt.Sprintf("cluster-%02d", i))
	}
	opts := Options{Catalogue: checks.Catalogue(), Header: Header{Contexts: names, Topology: "…", Source: "live"}, NoColor: true}
	for b.Loop() {
		m := New(opts)
		m.animate = false
		_ = m.Init()
		m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
		m.Update(eventMsg{gen: m.gen, ev: checks.Event{Kind: checks.InventoryStarted, Contexts: names}})
		if !strings.Contains(m.View(), "reading 50 contexts") {
			b.Fatal("the frame does not show the contexts being read")
		}
	}
}
