package bot

import (
	"testing"

	"github.com/jitbot/jitbot/flows"
)

// TestProjectNamesWithSpaces: Atlas's first project is "Project 0". Its name
// is typed in double quotes, alone or around the whole resource, and shown
// the same way, so what a card shows can be typed back.
func TestProjectNamesWithSpaces(t *testing.T) {
	want := flows.Resource{Integration: "acme", Project: "Project 0", Cluster: "Cluster0", Database: "sales"}
	for _, text := range []string{
		`request acme/"Project 0"/Cluster0/sales read 1h INC-1`,
		`request "acme/Project 0/Cluster0/sales" read 1h INC-1`,
	} {
		cmd, err := Parse(text)
		if err != nil || cmd.Resource != want || cmd.Reason != "INC-1" {
			t.Errorf("%s: %+v %v", text, cmd.Resource, err)
		}
	}
	if got := want.String(); got != `acme/"Project 0"/Cluster0/sales` {
		t.Errorf("shown as %s", got)
	}
	if cmd, err := Parse("request " + want.String() + " read 1h"); err != nil {
		t.Errorf("what is shown does not parse back: %v", err)
	} else if cmd.Resource != want {
		t.Errorf("parsed back as %+v", cmd.Resource)
	}
	ui, err := Parse(`request acme/"Project 0" GROUP_READ_ONLY 1h INC-1`)
	if err != nil || ui.Resource.Project != "Project 0" {
		t.Errorf("Atlas UI access to a project with a space: %+v %v", ui.Resource, err)
	}
	// Unquoted, the space ends the resource; two spaces or an edge space are
	// not an Atlas name.
	for _, text := range []string{`request acme/Project 0/Cluster0/sales read 1h`, `request acme/"Project  0"/Cluster0/sales read 1h`, `request acme/" Project"/Cluster0/sales read 1h`} {
		if _, err := Parse(text); err == nil {
			t.Errorf("%s: accepted", text)
		}
	}
}
