package identity

import (
	"html/template"
	"net/http"
)

// page is one of the sign-in pages: a few paragraphs and at most one form.
// The pages need no script, and load nothing from anywhere.
type page struct {
	Title string
	Lines []string
	// Values are shown to be copied (a guest's credentials: guest.go).
	Values []value
	Form   *form
}

type value struct {
	ID, Label, Text string
}

type form struct {
	Action string
	Fields map[string]string // hidden fields
	Button string
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>jitbot: {{.Title}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}button{font-size:1rem;padding:.5rem 1rem}</style>
</head><body>
<h1>{{.Title}}</h1>
{{range .Lines}}<p>{{.}}</p>
{{end}}{{range .Values}}<p>{{.Label}}: <code id="{{.ID}}">{{.Text}}</code></p>
{{end}}{{with .Form}}<form method="post" action="{{.Action}}">
{{range $k, $v := .Fields}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}<button type="submit" id="go">{{.Button}}</button>
</form>
{{end}}</body></html>
`))

// render writes a page with headers that keep it private and unframed.
// form-action lets the start form's redirect reach the provider.
func (x *Identities) render(w http.ResponseWriter, status int, p page) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self' "+x.issuerOrigin())
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, p)
}

// failed is a page that says what went wrong and what to do.
func (x *Identities) failed(w http.ResponseWriter, status int, title string, lines ...string) {
	x.render(w, status, page{Title: title, Lines: lines})
}
