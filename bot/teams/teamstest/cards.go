package teamstest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// AdaptiveCardContentType is the attachment content type of an Adaptive Card.
const AdaptiveCardContentType = "application/vnd.microsoft.card.adaptive"

// AdaptiveCards returns the content of act's Adaptive Card attachments as generic JSON maps.
// Content built in Go (typed structs) is normalised through JSON so tests read what was sent.
func AdaptiveCards(act schema.Activity) []map[string]any {
	var cards []map[string]any
	for _, a := range act.Attachments {
		if a.ContentType != AdaptiveCardContentType {
			continue
		}
		if m, ok := a.Content.(map[string]any); ok {
			cards = append(cards, m)
			continue
		}
		b, err := json.Marshal(a.Content)
		if err != nil {
			continue
		}
		var m map[string]any
		if json.Unmarshal(b, &m) == nil && m != nil {
			cards = append(cards, m)
		}
	}
	return cards
}

// CardText returns the readable text of a card in document order, one line per TextBlock,
// TextRun or fact ("title: value"), so tests can assert with strings.Contains.
func CardText(card map[string]any) string {
	var lines []string
	walk(card, func(m map[string]any) {
		switch m["type"] {
		case "TextBlock", "TextRun":
			if s, ok := m["text"].(string); ok {
				lines = append(lines, s)
			}
		case "FactSet":
			facts, _ := m["facts"].([]any)
			for _, f := range facts {
				if fm, ok := f.(map[string]any); ok {
					lines = append(lines, fmt.Sprintf("%v: %v", fm["title"], fm["value"]))
				}
			}
		}
	})
	return strings.Join(lines, "\n")
}

// CardAction is one action (button) found in a card.
type CardAction struct {
	Type  string         // "Action.Submit", "Action.OpenUrl", ...
	Title string         //
	Data  map[string]any // Action.Submit / Action.Execute data
	URL   string         // Action.OpenUrl
}

// CardActions returns every action of a card in document order, including those in ActionSets
// and inside Action.ShowCard cards.
func CardActions(card map[string]any) []CardAction {
	var out []CardAction
	walk(card, func(m map[string]any) {
		typ, _ := m["type"].(string)
		if !strings.HasPrefix(typ, "Action.") {
			return
		}
		a := CardAction{Type: typ}
		a.Title, _ = m["title"].(string)
		a.Data, _ = m["data"].(map[string]any)
		a.URL, _ = m["url"].(string)
		out = append(out, a)
	})
	return out
}

// FindAction returns the first action whose title equals title.
func FindAction(card map[string]any, title string) (CardAction, bool) {
	for _, a := range CardActions(card) {
		if a.Title == title {
			return a, true
		}
	}
	return CardAction{}, false
}

// walk visits every JSON object under v, parents before children, arrays in order.
func walk(v any, visit func(map[string]any)) {
	switch t := v.(type) {
	case map[string]any:
		visit(t)
		// Map iteration order is random; visit the keys that hold card content in a fixed order
		// so results follow the document.
		for _, k := range []string{"body", "items", "columns", "rows", "cells", "inlines", "card", "actions"} {
			if c, ok := t[k]; ok {
				walk(c, visit)
			}
		}
	case []any:
		for _, e := range t {
			walk(e, visit)
		}
	}
}
