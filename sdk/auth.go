package sdk

import "context"

// AuthRequest is a peer's request to become a writer of a drive.
type AuthRequest struct {
	// Drive is the key of the co-drive the request is for.
	Drive FeedKey
	// Writer is the feed key the requester wants added to the writer set.
	// The host has checked that the requester holds its secret key.
	Writer FeedKey
	// Peer is the requester's authenticated Noise static key.
	Peer PeerKey
	// Proof is whatever the requester chose to send along, such as an
	// invite code. It is not interpreted by the host.
	Proof []byte
}

// AuthDecision is a policy's answer.
type AuthDecision struct {
	Allow bool
	// Reason is shown to the requester when Allow is false.
	Reason string
}

// AuthPolicy decides who may become a writer. A host that has no policy
// configured denies every request.
type AuthPolicy interface {
	Authorize(ctx context.Context, req AuthRequest) (AuthDecision, error)
}
