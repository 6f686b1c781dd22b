package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/meshdoctor/meshdoctor/internal/report"
)

// Handler serves /metrics, /healthz, /readyz, the last run's JSON report
// at /results and /api/v1/results, and its HTML report at /.
func Handler(store *Store, m *Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		// A scrape that asks for more than a few seconds is cut short.
		Timeout:           10 * time.Second,
		ErrorHandling:     promhttp.ContinueOnError,
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if store.Last() == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "no run has finished yet")
			return
		}
		fmt.Fprintln(w, "ok")
	})
	results := func(w http.ResponseWriter, _ *http.Request) {
		r := store.Last()
		if r == nil {
			http.Error(w, "no run has finished yet", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		// The document `meshdoctor check -o json` writes, byte for byte.
		if err := report.JSON(w, r.Meta, r.Results); err != nil {
			// Headers are gone: the client sees a cut document.
			return
		}
	}
	// The page `meshdoctor check --html` writes, with the run's map, under
	// the same policy as its meta tag.
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		r := store.Last()
		if r == nil {
			http.Error(w, "no run has finished yet", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if err := report.HTML(w, r.Meta, r.Results, r.Map); err != nil {
			return // headers are gone: the client sees a cut page
		}
	})
	mux.HandleFunc("GET /results", results)
	mux.HandleFunc("GET /api/v1/results", results)
	return mux
}

// NewServer is an HTTP server with timeouts on every phase, so that a slow
// or idle client cannot hold a connection (and a goroutine) for ever.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// Serve serves srv on ln until ctx ends, then shuts down, giving requests
// in flight up to grace to finish.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	return nil
}
