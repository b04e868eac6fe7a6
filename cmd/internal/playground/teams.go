package playground

import (
	"context"
	"errors"
	"maps"
	"strings"
	"time"
)

// teamsSay is a person writing to jitbot in their Teams chat.
func (s *Server) teamsSay(ctx context.Context, req actionRequest) error {
	p, err := s.paneOf(req.Pane, "teams")
	if err != nil {
		return err
	}
	text := strings.TrimSpace(req.Text)
	if text == "" {
		return errors.New("say something: access help")
	}
	// The Bot Framework fake records on real time; so does this.
	s.remember(p.ID, &utterance{text: text, at: time.Now().UTC()})
	return s.rig.TeamsSend(ctx, s.rig.BF.Message(p.conv, *p.teams, text))
}

// teamsSubmit is a person clicking a button of a card: Teams sends the
// button's data merged with the card's inputs, as a message replying to
// the card.
func (s *Server) teamsSubmit(ctx context.Context, req actionRequest) error {
	p, err := s.paneOf(req.Pane, "teams")
	if err != nil {
		return err
	}
	if req.ActivityID == "" || len(req.Data) == 0 {
		return errors.New("which card, which button?")
	}
	value := maps.Clone(req.Data)
	for _, in := range req.Inputs {
		value[in.ActionID] = in.Value
	}
	return s.rig.TeamsSend(ctx, s.rig.BF.Submit(p.conv, *p.teams, req.ActivityID, value))
}
