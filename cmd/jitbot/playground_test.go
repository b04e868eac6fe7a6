package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
)

// playgroundShot, when set, is where TestPlaygroundInABrowser writes a
// screenshot of the page once its journey is done: README.md's picture
// (go test ./cmd/jitbot -run TestPlaygroundInABrowser -playground.screenshot=$PWD/docs/playground.png).
var playgroundShot = flag.String("playground.screenshot", "", "write a PNG screenshot of the playground after its journey to this path")

// chromiumEnv names the browser the test must use; .ci/run sets it after
// installing Debian's chromium, so that CI cannot skip the test.
const chromiumEnv = "JITBOT_CHROMIUM"

// chromium finds a headless-capable Chromium, or skips the test where none
// is installed and none is required.
func chromium(t *testing.T) string {
	t.Helper()
	if path := os.Getenv(chromiumEnv); path != "" {
		if _, err := exec.LookPath(path); err != nil {
			t.Fatalf("%s=%s: %v", chromiumEnv, path, err)
		}
		return path
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("no Chromium, and CI=%s: .ci/run installs it (apt-get install -y chromium)", os.Getenv("CI"))
	}
	t.Skipf("no Chromium on this machine: the playground's browser test needs it (Debian: apt-get install -y chromium; or set %s)", chromiumEnv)
	return ""
}

// TestPlaygroundInABrowser drives the page `jitbot demo -keep` serves in
// a real headless Chromium, as people would: alice types /access request
// in her Slack pane, olivia clicks Approve on the card in hers, and
// alice's pane shows her credentials while the Atlas panel shows the user
// they log in as. Then bob asks in Teams and olivia denies it there, with
// a reason typed into the card's form. Each step is the page calling
// jitbot's real handlers; the checks read the page, then the simulator.
func TestPlaygroundInABrowser(t *testing.T) {
	browser := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// The Atlas spec check is TestDemo's; loading it costs a second here.
	noSpec := func() (*atlastest.Spec, error) { return nil, errors.New("not loaded: TestDemo checks the calls") }
	d, err := startDemo(ctx, io.Discard, 0, noSpec, demoPlace{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)
	pageURL, err := d.servePlayground(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.Flag("headless", "new"), chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1500, 1000), chromedp.Flag("disable-gpu", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	// do runs steps; on failure it saves what the page showed and jitbot's
	// log where they outlive the test, and says where.
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v\n%s", what, err, saveFailure(bctx, d))
		}
	}
	// until waits for a JavaScript condition on the page.
	until := func(what, js string) {
		t.Helper()
		do(what, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(25*time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v\n%s", sel, err, saveFailure(bctx, d))
		}
		return s
	}
	typeIn := func(who, said string) {
		t.Helper()
		do(who+" types "+said,
			chromedp.SendKeys(chromedp.CSS("#"+who+" .composer input"), said),
			chromedp.Click(chromedp.CSS("#"+who+" .composer button")))
	}

	// The first run starts the browser, which lives as long as its context:
	// no timeout of its own.
	if err := chromedp.Do(bctx, chromedp.Navigate(pageURL)); err != nil {
		t.Fatalf("open the playground: %v", err)
	}
	do("the page draws the panes", chromedp.WaitVisible(chromedp.CSS(`#slack-alice .composer input`)))
	// olivia writes to jitbot in Teams once, so that it may write to her there.
	typeIn("teams-olivia", "access help")
	until("jitbot answers olivia in Teams", `document.querySelectorAll('#teams-olivia .timeline .msg.bot').length > 0`)

	typeIn("slack-alice", "/access request "+demoResource+" read 1h INC-42 checkout errors")
	approve := chromedp.CSS(`#slack-olivia .timeline button[data-action^="approve:"]`)
	do("olivia clicks Approve on the card", chromedp.WaitVisible(approve), chromedp.Click(approve))
	until("alice's DM shows her password", `document.querySelector('#slack-alice .timeline').innerText.includes('Password')`)
	until("the Atlas panel lists alice's user", `document.querySelector('#atlas-users').innerText.includes('jit-alice-')`)

	users := d.rig.Atlas.Users(rig.Project)
	if len(users) != 1 || !strings.Contains(text(`#atlas-users`), users[0].Username) {
		t.Fatalf("the simulator has %+v; the Atlas panel shows:\n%s", users, text(`#atlas-users`))
	}
	// The page shows exactly what jitbot sent: the password it shows logs in.
	shown := regexp.MustCompile(`Password\s+(\S+)`).FindStringSubmatch(text(`#slack-alice .timeline`))
	if shown == nil || !d.rig.Atlas.CheckPassword(rig.Project, users[0].Username, shown[1]) {
		t.Fatalf("alice's pane shows no password that logs in as %s:\n%s", users[0].Username, text(`#slack-alice .timeline`))
	}
	until("olivia's card shows the approval, without buttons",
		`(() => { const t = document.querySelector('#slack-olivia .timeline'); return t.innerText.includes('Approved by olivia') && !t.querySelector('button[data-action^="approve:"]') })()`)

	typeIn("teams-bob", "access request prod/Cluster0/sales/customers read 2h INC-43 refunds")
	// Bob's card is the last message in olivia's Teams chat.
	until("bob's card reaches olivia in Teams", `document.querySelector('#teams-olivia .timeline .msg:last-child').innerText.includes('bob@example.com asks')`)
	reason := chromedp.CSS(`#teams-olivia .ac-showcard:not([hidden]) textarea[data-input="reason"]`)
	do("olivia says why she denies it, in the card's form",
		chromedp.Click(chromedp.CSS(`#teams-olivia .timeline .msg:last-child button[data-showcard]`)),
		chromedp.WaitVisible(reason),
		chromedp.SendKeys(reason, "use the reporting replica"),
		chromedp.Click(chromedp.CSS(`#teams-olivia .ac-showcard:not([hidden]) button[data-submit]`)))
	until("bob's Teams chat shows the denial and its reason",
		`(() => { const t = document.querySelector('#teams-bob .timeline').innerText; return t.includes('denied') && t.includes('use the reporting replica') })()`)

	if *playgroundShot != "" {
		do("let the last poll draw", chromedp.Sleep(1200*time.Millisecond))
		raw, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		small, err := compactPNG(raw)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(*playgroundShot, small, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d KiB)", *playgroundShot, len(small)>>10)
	}

	// A Slack form: alice asks again; olivia clicks Deny on the new card,
	// and the form Slack opens asks her why.
	typeIn("slack-alice", "/access request prod/Cluster0/sales/customers read 30m INC-44 one more look")
	until("alice's second card reaches olivia in Slack", `document.querySelector('#slack-olivia .timeline .msg:last-child').innerText.includes('sales/customers for 30m')`)
	why := chromedp.CSS(`#slack-olivia .form:not([hidden]) textarea[data-block="reason"]`)
	do("olivia denies it in the form Deny opens",
		chromedp.Click(chromedp.CSS(`#slack-olivia .timeline .msg:last-child button[data-action^="deny:"]`)),
		chromedp.WaitVisible(why),
		chromedp.SendKeys(why, "one grant at a time"),
		chromedp.Click(chromedp.CSS(`#slack-olivia .form button[data-form-submit]`)))
	until("the form closes", `document.querySelector('#slack-olivia .form').hidden`)
	until("alice reads why", `document.querySelector('#slack-alice .timeline').innerText.includes('one grant at a time')`)

	// alice's App Home, which jitbot publishes when she opens it.
	grantID := strings.TrimPrefix(users[0].Username, "jit-alice-")
	do("alice opens her App Home", chromedp.Click(chromedp.CSS(`#slack-alice .tabs button[data-tab="home"]`)))
	until("her App Home shows her access", `document.querySelector('#slack-alice .home').innerText.includes('`+grantID+`')`)
	do("alice goes back to her messages", chromedp.Click(chromedp.CSS(`#slack-alice .tabs button[data-tab="messages"]`)))
}

// compactPNG redraws a screenshot with the 256 colours it uses most, which
// keeps the README's picture small: a page of flat colours and text loses
// nothing a reader sees.
func compactPNG(raw []byte) ([]byte, error) {
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	counts := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			counts[color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)]++
		}
	}
	colors := slices.Collect(maps.Keys(counts))
	slices.SortFunc(colors, func(a, b color.RGBA) int {
		return cmp.Or(counts[b]-counts[a], cmp.Compare(a.R, b.R), cmp.Compare(a.G, b.G), cmp.Compare(a.B, b.B), cmp.Compare(a.A, b.A))
	})
	palette := make(color.Palette, 0, 256)
	for _, c := range colors[:min(len(colors), 256)] {
		palette = append(palette, c)
	}
	small := image.NewPaletted(b, palette)
	draw.Draw(small, b, img, b.Min, draw.Src)
	var out bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, small); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// saveFailure saves a screenshot of the page, its text and jitbot's log
// into a directory that outlives the test, and says where.
func saveFailure(bctx context.Context, d *demo) string {
	dir, err := os.MkdirTemp("", "jitbot-playground-failure-")
	if err != nil {
		return "could not keep the evidence: " + err.Error()
	}
	ctx, cancel := context.WithTimeout(bctx, 10*time.Second)
	defer cancel()
	shot := "no screenshot"
	if raw, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		shot = filepath.Join(dir, "page.png")
		_ = os.WriteFile(shot, raw, 0o644)
	}
	if body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"))); err == nil {
		_ = os.WriteFile(filepath.Join(dir, "page.txt"), []byte(body), 0o644)
	}
	_ = os.WriteFile(filepath.Join(dir, "jitbot.log"), []byte(d.rig.Logs()), 0o644)
	return fmt.Sprintf("the page as it was: %s (its text in page.txt, jitbot's log in jitbot.log beside it)\nlog tail:\n%s", shot, d.rig.LogTail(2000))
}
