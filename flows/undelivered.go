package flows

// EventMessageUndelivered records a message a chat platform refused for
// good (a deactivated account, a channel that is gone): the dispatcher drops
// it instead of retrying forever, and the audit log says so. It changes no
// request and tells nobody: an approver's card is one of several, and
// undeliverable credentials are EventCredentialsUndelivered instead.
const EventMessageUndelivered EventType = "message_undelivered"
