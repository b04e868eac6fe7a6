package flows

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	// The zone database is embedded so that a policy compiles, and a
	// window is judged, alike on every host: a slim container image often
	// has no /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Working hours (hours): a flow takes requests as written only inside a
// weekly window in a time zone; outside it, the flow says what happens:
// the request is refused, goes through another flow, or needs more
// approvals. The window is judged at submission, on the service's clock,
// by the wall clock of the zone (so a change to or from daylight saving
// time moves it with the people who work there). A window may cross
// midnight (from 22:00 to 06:00): it then belongs to the day it starts on,
// so the hours after midnight count when the day before is one of its days.

// HoursSpec is a flow's working hours as written.
type HoursSpec struct {
	Zone string // an IANA zone, such as Europe/Berlin
	Days string // mon-fri; a list and ranges: mon,wed,fri or sat-sun
	From string // 08:00
	To   string // 18:00; 24:00 is the end of the day
	// Outside the window, exactly one of:
	Outside   string // refuse
	Flow      string // the name of another flow of the same kind and integration
	Approvals int    // the approvals needed instead of the flow's
}

// Hours is a validated window.
type Hours struct {
	Zone     *time.Location
	Days     [7]bool // by time.Weekday
	DaysText string  // as written, for people
	From, To int     // minutes after midnight
	// Outside the window, one of:
	Refuse    bool
	Flow      string
	Approvals int
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// compileHours validates a flow's hours (the flow an outside window names
// is checked once every flow is known: checkHoursFlows).
func (p *Policy) compileHours(v *validator, at string, fs FlowSpec, f *Flow) {
	hs := fs.Hours
	if hs == nil {
		return
	}
	at += ".hours"
	h := &Hours{DaysText: strings.ToLower(strings.TrimSpace(hs.Days))}
	ok := true
	switch loc, err := time.LoadLocation(hs.Zone); {
	case hs.Zone == "":
		v.add(at+".zone", "required: the time zone of the window, such as Europe/Berlin")
		ok = false
	case err != nil || hs.Zone == "Local":
		v.add(at+".zone", "unknown time zone %q; use an IANA name such as Europe/Berlin or America/New_York", excerpt(hs.Zone))
		ok = false
	default:
		h.Zone = loc
	}
	if days, err := parseDays(h.DaysText); err != nil {
		v.add(at+".days", "%s", err)
		ok = false
	} else {
		h.Days = days
	}
	from, err := parseClock(hs.From, false)
	if err != nil {
		v.add(at+".from", "%s", err)
		ok = false
	}
	to, err := parseClock(hs.To, true)
	if err != nil {
		v.add(at+".to", "%s", err)
		ok = false
	}
	if ok && from == to%(24*60) {
		v.add(at+".to", "%s is when the window starts: it would be empty (leave hours out for a flow open all day)", hs.To)
		ok = false
	}
	h.From, h.To = from, to
	set := 0
	if hs.Outside != "" {
		set++
		if hs.Outside != "refuse" {
			v.add(at+".outside", "%q: the only value is refuse; for another flow write flow: <name>, for more approvals approvals: <n>", excerpt(hs.Outside))
			ok = false
		}
		h.Refuse = true
	}
	if hs.Flow != "" {
		set++
		h.Flow = hs.Flow
		if hs.Flow == fs.Name {
			v.add(at+".flow", "names access flow %s itself: name another flow for requests outside the window", fs.Name)
			ok = false
		}
	}
	if hs.Approvals != 0 {
		set++
		h.Approvals = hs.Approvals
		switch {
		case hs.Approvals < 1:
			v.add(at+".approvals", "must be at least 1")
			ok = false
		case fs.AutoApprove:
			v.add(at+".approvals", "an auto-approved flow has no approvers to ask: outside the window use outside: refuse or flow: <another flow>")
			ok = false
		}
	}
	switch {
	case set == 0:
		v.add(at, "say what happens outside the window: outside: refuse, flow: <another flow> or approvals: <n>")
		ok = false
	case set > 1:
		v.add(at, "outside the window, one of outside: refuse, flow: <another flow> or approvals: <n>, not several")
		ok = false
	}
	if ok {
		f.Hours = h
	}
}

// checkHoursFlows checks the flows that windows send requests to: they
// exist, grant the same kind on the same integration, and send nothing on
// themselves (one step, so a request never goes round in circles).
func (p *Policy) checkHoursFlows(v *validator) {
	for _, f := range p.flows {
		if f.Hours == nil || f.Hours.Flow == "" {
			continue
		}
		path := fmt.Sprintf("flows[%d].hours.flow", f.order)
		g, ok := p.Flow(f.Hours.Flow)
		switch {
		case !ok:
			v.add(path, "unknown access flow %q", excerpt(f.Hours.Flow))
		case g.Kind != f.Kind || g.Integration != f.Integration:
			v.add(path, "access flow %s grants %s on %s, not %s on %s as %s does", g.Name, g.Kind, g.Integration, f.Kind, f.Integration, f.Name)
		case g.Hours != nil && g.Hours.Flow != "":
			v.add(path, "access flow %s sends requests outside its own hours on to %s: name a flow that takes them itself", g.Name, g.Hours.Flow)
		}
	}
}

func parseDays(s string) ([7]bool, error) {
	var days [7]bool
	if s == "" {
		return days, fmt.Errorf("required: the days of the window, such as mon-fri")
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		first, last, isRange := strings.Cut(part, "-")
		a, ok1 := weekdays[strings.TrimSpace(first)]
		b, ok2 := a, ok1
		if isRange {
			b, ok2 = weekdays[strings.TrimSpace(last)]
		}
		if !ok1 || !ok2 {
			return days, fmt.Errorf("%q: write days as mon, tue, wed, thu, fri, sat, sun, in ranges (mon-fri) or lists (mon,wed,fri)", excerpt(part))
		}
		for d := a; ; d = (d + 1) % 7 { // a range may wrap: fri-mon
			days[d] = true
			if d == b {
				break
			}
		}
	}
	return days, nil
}

// parseClock reads HH:MM as minutes after midnight; end allows 24:00.
func parseClock(s string, end bool) (int, error) {
	hh, mm, ok := strings.Cut(s, ":")
	h, err1 := strconv.Atoi(hh)
	m, err2 := strconv.Atoi(mm)
	switch {
	case s == "":
		return 0, fmt.Errorf("required: a time of day, such as \"08:00\"")
	case !ok || len(hh) != 2 || len(mm) != 2 || err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && (m != 0 || !end)):
		want := "00:00 to 23:59"
		if end {
			want = "00:00 to 24:00"
		}
		return 0, fmt.Errorf("%q is not a time of day: write HH:MM, %s (quoted, so YAML reads it as text)", excerpt(s), want)
	}
	return h*60 + m, nil
}

// Open reports whether t falls inside the window.
func (h *Hours) Open(t time.Time) bool {
	local := t.In(h.Zone)
	minute := local.Hour()*60 + local.Minute()
	day := local.Weekday()
	if h.From < h.To {
		return h.Days[day] && minute >= h.From && minute < h.To
	}
	// Across midnight: the evening of one of its days, or the morning after.
	return (h.Days[day] && minute >= h.From) || (h.Days[(day+6)%7] && minute < h.To)
}

// String is the window for people: "mon-fri 08:00-18:00 Europe/Berlin".
func (h *Hours) String() string {
	return fmt.Sprintf("%s %s-%s %s", h.DaysText, clockText(h.From), clockText(h.To), h.Zone)
}

func clockText(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// outcome says what the window does outside it, for people.
func (h *Hours) outcome() string {
	switch {
	case h.Refuse:
		return "refused"
	case h.Flow != "":
		return "through access flow " + h.Flow
	}
	return fmt.Sprintf("%d approvals", h.Approvals)
}

// DescribeHours is a flow's window for people (explain), or "".
func DescribeHours(f *Flow) string {
	if f.Hours == nil {
		return ""
	}
	return fmt.Sprintf("working hours %s; outside them: %s", f.Hours, f.Hours.outcome())
}

// applyHours judges a request made at now against f's window: inside it,
// or without one, f as it is; outside it, a refusal, the flow it names, or
// f with its approvals raised, and the note that says so on the cards.
func (p *Policy) applyHours(f *Flow, now time.Time) (*Flow, string, error) {
	h := f.Hours
	if h == nil || h.Open(now) {
		return f, "", nil
	}
	local := now.In(h.Zone)
	note := "outside working hours: " + h.outcome()
	switch {
	case h.Refuse:
		return nil, "", Errorf(EFORBIDDEN, "access flow %s takes requests %s only; it is %s there now: ask again within those hours",
			f.Name, h, local.Format("Mon 15:04"))
	case h.Flow != "":
		g, ok := p.Flow(h.Flow)
		if !ok { // Compile refuses it; a policy is never half-checked
			return nil, "", Errorf(EINTERNAL, "access flow %s names flow %s outside its hours, which is not in the policy", f.Name, h.Flow)
		}
		// Its own window, if any, then applies (a refusal or approvals:
		// never a further flow, which Compile refuses).
		g, more, err := p.applyHours(g, now)
		if more != "" {
			note += "; " + more
		}
		return g, note, err
	}
	g := *f
	g.Approvals = h.Approvals
	return &g, note, nil
}
