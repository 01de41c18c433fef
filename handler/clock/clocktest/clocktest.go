// Package clocktest provides a fake clock.Clock whose Sleep advances time
// instantly, so retry and timeout logic is tested without waiting.
package clocktest

import (
	"context"
	"sync"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock"
)

// Fake is a manual clock. Sleep advances it immediately.
type Fake struct {
	mu    sync.Mutex
	now   time.Time
	slept time.Duration
	// Sleeps records every requested sleep, in order.
	sleeps []time.Duration
}

// New returns a fake clock at t.
func New(t time.Time) *Fake { return &Fake{now: t} }

// Real returns the wall clock (for tests that need real waiting).
func Real() clock.Clock { return clock.Real{} }

// Now implements clock.Clock.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Sleep implements clock.Clock.
func (f *Fake) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	f.slept += d
	f.sleeps = append(f.sleeps, d)
	return nil
}

// Advance moves the clock forward.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// Slept is the total time slept.
func (f *Fake) Slept() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.slept
}

// Sleeps returns a copy of the recorded sleeps.
func (f *Fake) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// Set steps the clock to t, backwards or forwards, as NTP or an RTC kept
// in local time can step a real clock at boot.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
}
