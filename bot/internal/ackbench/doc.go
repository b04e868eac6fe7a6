// Package ackbench measures how fast a chat adapter acknowledges deliveries,
// for the BenchmarkAck of bot/slack and bot/teams: both answer to the same
// budget (DESIGN §8: p99 < 100 ms at 200 requests per second), so both are
// measured by the same code.
//
// Role: a benchmark helper, imported only by the adapters' tests. It imports
// the standard library only (testing included, which is why no production
// code may import it).
package ackbench
