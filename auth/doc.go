// Package auth holds the auth policies compiled into codrive, each an
// implementation of [github.com/codrive/codrive/sdk.AuthPolicy] in a
// subpackage of its own. A policy runs on the host of a writer that a
// peer asks to be let in, and decides whether the peer may add a writer
// to the co-drive.
//
//   - [github.com/codrive/codrive/auth/deny]: nobody gets in. The
//     default, for a drive whose writer set is fixed.
//   - [github.com/codrive/codrive/auth/allow]: everybody gets in. For
//     tests and closed networks only.
//   - [github.com/codrive/codrive/auth/allowlist]: peers or writers
//     whose keys are listed in a file, re-read when it changes.
//   - [github.com/codrive/codrive/auth/invite]: whoever presents the
//     drive's invite code, derived from a secret. Its package
//     documentation walks through writing a policy of your own.
//
// Each package has an Open that builds the policy from the string
// settings a plugin receives, so a builtin (host/builtin) and its plugin
// binary (plugins/codrive-plugin-auth-*) behave alike. The suite in
// conformance/authtest checks them, builtin and as plugins.
package auth
