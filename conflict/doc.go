// Package conflict holds the conflict resolvers compiled into codrive,
// each an implementation of [github.com/codrive/codrive/sdk.Resolver] in
// a subpackage of its own:
//
//   - [github.com/codrive/codrive/conflict/mtime]: the newest wall clock
//     wins. Simple, but a writer whose clock runs fast beats edits made
//     with knowledge of its version.
//   - [github.com/codrive/codrive/conflict/vclock]: causality first, wall
//     clocks only between concurrent versions. An edit always beats the
//     versions its author had seen, whatever the clocks say.
//
// Both report as concurrent exactly the candidates the winner had not
// seen, so that the union view keeps them reachable as conflicts. The
// suite in conformance/resolvertest checks them, builtin and as plugins.
package conflict
