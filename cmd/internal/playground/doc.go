// Package playground is the web page `jitbot demo -keep` serves on the
// loopback interface: the demo's Slack and Teams as each of its people
// sees them (direct messages, approval cards with working buttons, the
// Slack App Home, forms), a box to talk to jitbot as any of them, and the
// Atlas simulator's database users and jitbot's grants, polled live.
//
// Nothing on the page takes a shortcut into jitbot: every command, click
// and form goes to jitbot's real HTTP handlers, signed as Slack or the Bot
// Framework would sign it (the rig's helpers build them), and everything
// shown is read back from the fakes jitbot talks to. It is part of the
// jitbot binary (through the demo), so it holds no scenario and imports no
// test package.
package playground
