//go:build race

package scenario

// raceEnabled: the tests run under the race detector, and so does the
// jitbot binary they build.
const raceEnabled = true
