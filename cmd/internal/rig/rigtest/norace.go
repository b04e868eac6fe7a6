//go:build !race

package rigtest

// Race says the tests run under the race detector.
const Race = false
