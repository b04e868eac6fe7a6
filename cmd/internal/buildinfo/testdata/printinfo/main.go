// Command printinfo prints buildinfo.Read as JSON: the test links it with
// -ldflags -X as the Dockerfile links jitbot.
package main

import (
	"encoding/json"
	"os"

	"github.com/jitbot/jitbot/cmd/internal/buildinfo"
)

func main() {
	_ = json.NewEncoder(os.Stdout).Encode(buildinfo.Read())
}
