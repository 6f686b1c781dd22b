package probe

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// probeStatus asks the status port for StatusPath over conn.
func probeStatus(ctx context.Context, conn net.Conn, r *PortResult) {
	u := url.URL{Scheme: "http", Host: r.Address, Path: StatusPath}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		*r = r.fail(OutcomeError, "build status request: "+err.Error())
		return
	}
	req.Close = true
	req.Header.Set("User-Agent", "meshdoctor")
	start := time.Now()
	if err := req.Write(conn); err != nil {
		*r = r.failErr("send GET "+StatusPath, err)
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		*r = r.failErr("read answer to GET "+StatusPath, err)
		if r.Outcome == OutcomeError {
			r.Detail += " (not an HTTP answer)"
		}
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	resp.Body.Close()
	r.Response = time.Since(start)
	r.HTTPStatus = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		r.Outcome = OutcomeHTTPStatus
		r.Detail = fmt.Sprintf("GET %s answered %s", StatusPath, resp.Status)
		return
	}
	r.Outcome = OutcomeOK
	r.Detail = fmt.Sprintf("GET %s answered %s in %v", StatusPath, resp.Status, r.Response.Round(time.Microsecond))
}
