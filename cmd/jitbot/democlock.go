package main

import (
	"sync"
	"time"
)

// demoClock is the demo's time: it jumps when the demo fast-forwards, and
// with a speed it runs that many times faster than real time in between.
type demoClock struct {
	mu     sync.Mutex
	base   time.Time // demo time at realAt
	realAt time.Time
	speed  float64
}

func newDemoClock(start time.Time, speed float64) *demoClock {
	return &demoClock{base: start, realAt: time.Now(), speed: speed}
}

func (c *demoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *demoClock) nowLocked() time.Time {
	elapsed := time.Since(c.realAt)
	return c.base.Add(time.Duration(float64(elapsed) * c.speed)).Truncate(time.Millisecond)
}

func (c *demoClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.realAt = c.nowLocked().Add(d), time.Now()
}

// SetSpeed makes demo time run speed times as fast as real time from now on.
func (c *demoClock) SetSpeed(speed float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.realAt, c.speed = c.nowLocked(), time.Now(), speed
}
