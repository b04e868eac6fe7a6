//go:build race

package rigtest

// Race says the tests run under the race detector, so the jitbot binary
// they build does too.
const Race = true
