package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/go-kit/log"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock"
	"github.com/Azure/aadsshlogin-extension-linux/manifest"
)

// HTTP design.
//
// Requests go through an azcore pipeline (runtime.NewPipeline) so the handler
// shares the SDK's request plumbing (telemetry User-Agent, body download,
// sanitised SDK logging), with two substitutions:
//
//   - Transporter: our own http.Client (transport.go) whose transport has
//     Proxy: nil. IMDS and HIMDS must never be proxied, whatever
//     http_proxy/HTTPS_PROXY the guest agent's environment carries; azcore's
//     default client honours them. It also refuses redirects and caps
//     response bodies at maxBody.
//   - Retry: a custom per-call policy (retryPolicy). policy.RetryOptions
//     cannot express what IMDS needs: its delays are (2^n-1)*RetryDelay with
//     random jitter, it sleeps with time.After (tests could not use a fake
//     clock), it has no per-status budget (410 must be retried for 70 s, the
//     others along 0/2/6/14/30 s), and it cannot respect Check's overall
//     deadline. The built-in retry policy is therefore reduced to one try
//     (MaxRetries: -1) and ours wraps it.

// errNoTimeLeft stops a request that could not finish before Check's deadline.
var errNoTimeLeft = fmt.Errorf("no time left within the %s bound of the identity check", MaxCheckDuration)

// control carries Check's clock-based deadline and per-call options to the
// retry policy, and brings back statistics for messages.
type control struct {
	deadline time.Time
	single   bool
}

type ctlKey struct{}

func withControl(ctx context.Context, c *control) context.Context {
	return context.WithValue(ctx, ctlKey{}, c)
}

// withSingleTry returns ctx whose requests are tried once.
func withSingleTry(ctx context.Context) context.Context {
	c := control{single: true}
	if old, ok := ctx.Value(ctlKey{}).(*control); ok {
		c.deadline = old.deadline
	}
	return withControl(ctx, &c)
}

// stats describes the tries of one request.
type stats struct {
	attempts int
	elapsed  time.Duration
}

type statsKey struct{}

// retryPolicy retries transient IMDS answers along delays (see the package
// doc for why this is not policy.RetryOptions).
type retryPolicy struct {
	clk        clock.Clock
	delays     []time.Duration
	tryTimeout time.Duration
	logger     log.Logger
}

// transient reports whether a try should be repeated: transport errors and
// per-try timeouts, 404, 410, 429 and 5xx (the IMDS documentation's table).
func transient(resp *http.Response, err error) bool {
	if err != nil {
		return !errors.Is(err, errBodyTooLarge)
	}
	switch c := resp.StatusCode; {
	case c == http.StatusNotFound, c == http.StatusGone, c == http.StatusTooManyRequests:
		return true
	case c >= 500:
		return true
	}
	return false
}

// Do implements policy.Policy.
func (r *retryPolicy) Do(req *policy.Request) (*http.Response, error) {
	ctx := req.Raw().Context()
	ctl, _ := ctx.Value(ctlKey{}).(*control)
	if ctl == nil {
		ctl = &control{}
	}
	st, _ := ctx.Value(statsKey{}).(*stats)
	if st == nil {
		st = &stats{}
	}
	start := r.clk.Now()
	if !ctl.deadline.IsZero() && start.Add(r.tryTimeout).After(ctl.deadline) {
		return nil, errNoTimeLeft
	}
	for try := 1; ; try++ {
		tryCtx, cancel := context.WithTimeout(ctx, r.tryTimeout)
		resp, err := req.Clone(tryCtx).Next()
		cancel() // the body-download policy has already read the body
		st.attempts = try
		st.elapsed = r.clk.Now().Sub(start)
		if ctxErr := ctx.Err(); ctxErr != nil {
			closeBody(resp)
			return nil, ctxErr
		}
		if err != nil && errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s: %w", r.tryTimeout, err)
		}
		if !transient(resp, err) {
			return resp, err
		}
		delay, ok := r.next(try, resp, start)
		if !ok || ctl.single ||
			(!ctl.deadline.IsZero() && r.clk.Now().Add(delay+r.tryTimeout).After(ctl.deadline)) {
			return resp, err
		}
		kv := []any{"event", "imds-transient-retry", "url", req.Raw().URL.Path, "try", try, "retry_in", delay}
		if err != nil {
			kv = append(kv, "err", err)
		} else {
			kv = append(kv, "status", resp.StatusCode)
		}
		r.logger.Log(kv...)
		closeBody(resp)
		if err := r.clk.Sleep(ctx, delay); err != nil {
			return nil, err
		}
	}
}

// next returns the delay before try+1, or false when retries are used up.
func (r *retryPolicy) next(try int, resp *http.Response, start time.Time) (time.Duration, bool) {
	if try < len(r.delays) {
		return r.delays[try], true
	}
	if resp != nil && resp.StatusCode == http.StatusGone {
		if used := r.clk.Now().Sub(start); used < GoneBudget {
			return min(goneStep, GoneBudget-used), true
		}
	}
	return 0, false
}

func closeBody(resp *http.Response) {
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
}

func (s settings) pipeline() runtime.Pipeline {
	return runtime.NewPipeline("aadsshlogin-identity", "v1", runtime.PipelineOptions{
		PerCall: []policy.Policy{&retryPolicy{
			clk: s.clk, delays: s.retryDelays, tryTimeout: s.tryTimeout, logger: s.logger,
		}},
	}, &policy.ClientOptions{
		Transport: newLimitedClient(s.transport),
		Retry:     policy.RetryOptions{MaxRetries: -1},
		Telemetry: policy.TelemetryOptions{ApplicationID: manifest.Type},
	})
}

// get sends one GET (with retries) with Metadata: true and, when auth is not
// empty, that Authorization header. It returns the final response and its
// body; err is a transport error after retries.
func (s settings) get(ctx context.Context, url, auth string) (*http.Response, []byte, stats, error) {
	st := &stats{}
	ctx = context.WithValue(ctx, statsKey{}, st)
	req, err := runtime.NewRequest(ctx, http.MethodGet, url)
	if err != nil {
		return nil, nil, *st, err
	}
	req.Raw().Header.Set("Metadata", "true")
	if auth != "" {
		req.Raw().Header.Set("Authorization", auth)
	}
	resp, err := s.pipeline().Do(req)
	if err != nil {
		return nil, nil, *st, err
	}
	body, err := runtime.Payload(resp)
	if err != nil {
		return nil, nil, *st, err
	}
	return resp, body, *st, nil
}
