package ui

import (
	"context"
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
