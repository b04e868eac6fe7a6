package etcdstore

import (
	"sync"
	"time"
)

// A front remembers where the live entries of a time-ordered index begin,
// so that reading its front does not walk past the entries deleted since
// the last compaction: etcd keeps a deleted key in its index until then,
// and a range from the index's start visits every one (a queue's index
// deletes an entry at every step; the HA bench's members spent a quarter
// of their CPU on such walks). A read starts at the floor, below which no entry was
// live at the last read, less a margin for entries stamped by one clock
// and committed a little later or by another replica's clock; entries
// written below it since (a long-delayed commit) are found by the read
// from the index's start that comes every rescan. Entries this process
// writes below the floor lower it at once.
type front struct {
	mu     sync.Mutex
	floor  string    // "" until a read from the start set it
	fullAt time.Time // when the index was last read from its start
	// lowered counts the writes of this process below the floor: a read
	// under way when one came may lower the floor, not raise it.
	lowered uint64
	low     string // the lowest entry written while there was no floor
}

const (
	// frontMargin covers the clocks' allowed skew (1 s) and the time a
	// write stamped with one takes to commit (a receive gives up after 2 s).
	frontMargin = 10 * time.Second
	// frontRescan is how often the index is read from its start: the
	// longest an entry committed below the floor waits.
	frontRescan = 30 * time.Second
)

// frontRead is a read of an index under way.
type frontRead struct {
	prefix, from string
	now          time.Time
	lowered      uint64
}

// start is a read of the index under prefix at now: from where.
func (f *front) start(prefix string, now time.Time) frontRead {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := frontRead{prefix: prefix, from: f.floor, now: now, lowered: f.lowered}
	if f.floor == "" || now.Sub(f.fullAt) >= frontRescan || now.Before(f.fullAt) {
		r.from = prefix
	}
	return r
}

// found ends the read r, which found first as its first live entry (""
// for none up to its end): the floor becomes the lower of that entry and
// the margin before the read's time, and of what this process wrote below
// it meanwhile.
func (f *front) found(r frontRead, first string) {
	floor := r.prefix + at(r.now.Add(-frontMargin))
	if first != "" && first < floor {
		floor = first
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.from == r.prefix && r.now.After(f.fullAt) {
		f.fullAt = r.now
	}
	if f.lowered != r.lowered {
		for _, k := range []string{f.floor, f.low} {
			if k != "" {
				floor = min(floor, k)
			}
		}
	}
	f.floor, f.low = floor, ""
}

// wrote notes an entry this process committed: one below the floor
// lowers it.
func (f *front) wrote(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.floor == "":
		if f.low == "" || key < f.low {
			f.low = key
		}
		f.lowered++
	case key < f.floor:
		f.floor = key
		f.lowered++
	}
}
