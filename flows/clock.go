package flows

import "time"

// Clock tells the time. Domain code never calls time.Now; tests inject a fake.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }
