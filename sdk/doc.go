// Package sdk holds the contracts between the codrive host and its plugins.
//
// The host depends on four small interfaces, each of which can be
// implemented in-process (a builtin) or served from a separate process (a
// plugin) without the host being able to tell the difference:
//
//   - [Storage] keeps feeds: their blocks, Merkle tree nodes, signed heads
//     and, for writable feeds, secret keys.
//   - [Transport] dials and listens on multiaddrs and carries reliable byte
//     streams. It is an untrusted pipe: the host authenticates and encrypts
//     above it.
//   - [Resolver] decides which of several concurrent versions of a path wins.
//   - [AuthPolicy] decides whether a peer may become a writer of a drive.
//
// Every method may cross a process boundary, which costs tens of
// microseconds per call, so the contracts are batch-oriented: append many
// blocks in one [Batch], read ranges, resolve many paths in one call.
//
// This package is deliberately light on dependencies so that a plugin
// author can import it without pulling in the host.
package sdk
