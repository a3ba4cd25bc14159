package notification

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tipbox/tipbox/core/email"
	"github.com/tipbox/tipbox/core/queue"
)

// EmailQueue is the queue of email deliveries.
const EmailQueue = "emails"

// ErrNoRecipient is what Recipients returns for a user who does not exist.
var ErrNoRecipient = errors.New("notification: no such recipient")

// Recipient is where a user's email goes.
type Recipient struct {
	Email string
	Name  string
}

// Recipients finds users' addresses (the user module's store, in the app).
type Recipients interface {
	Recipient(ctx context.Context, userID int64) (Recipient, error)
}

// EmailChannel sends notifications as email: one message with a text and
// an HTML part in the user's language, with a one-click unsubscribe link.
type EmailChannel struct {
	sender     email.Sender
	recipients Recipients
	templates  *Templates
	unsub      *Unsubscriber
}

// NewEmailChannel returns the email channel.
func NewEmailChannel(sender email.Sender, recipients Recipients, templates *Templates, unsub *Unsubscriber) *EmailChannel {
	return &EmailChannel{sender: sender, recipients: recipients, templates: templates, unsub: unsub}
}

// Name implements Channel.
func (*EmailChannel) Name() string { return ChannelEmail }

// Queue implements Channel.
func (*EmailChannel) Queue() string { return EmailQueue }

// Message builds the email of n for r in prefs' language.
func (c *EmailChannel) Message(n Notification, r Recipient, prefs Preferences) (email.Message, error) {
	data := make(map[string]any, len(n.Data))
	for k, v := range n.Data {
		var x any
		if err := json.Unmarshal(v, &x); err == nil {
			data[k] = x
		}
	}
	link := c.unsub.URL(n.UserID, ChannelEmail, n.Type)
	subject, text, html, _, err := c.templates.Render(n.Type, prefs.Language, EmailData{
		Name: r.Name, Type: n.Type, Data: data, CreatedAt: n.CreatedAt, UnsubscribeURL: link,
	})
	if err != nil {
		return email.Message{}, err
	}
	return email.Message{To: r.Email, Subject: subject, Text: text, HTML: html, Headers: map[string]string{
		"List-Unsubscribe":      "<" + link + ">",
		"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
	}}, nil
}

// Deliver implements Channel.
func (c *EmailChannel) Deliver(ctx context.Context, n Notification, prefs Preferences) error {
	r, err := c.recipients.Recipient(ctx, n.UserID)
	if errors.Is(err, ErrNoRecipient) {
		return Skip("no such user")
	}
	if err != nil {
		return err
	}
	if r.Email == "" {
		return Skip("no email address")
	}
	m, err := c.Message(n, r, prefs)
	if err != nil {
		return queue.Permanent(err)
	}
	if err := c.sender.Send(ctx, m); err != nil {
		if email.IsPermanent(err) {
			return queue.Permanent(err)
		}
		return fmt.Errorf("email: %w", err)
	}
	return nil
}
