package netshell

// The one place proto types and state types meet. Everything the shell
// sends or receives passes through a function here; nothing else in the
// shell builds a state type from a proto type or the reverse.

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/internal/pushstream"
	"github.com/nexusd/nexusd/proto/discoverypb"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// protocolVersion is Beacon.protocol_version (docs/protocol.md §2.1).
const protocolVersion = 1

// Beacon drop reasons found before the node sees a datagram.
const (
	dropTooLarge        = "too_large"
	dropUndecodable     = "undecodable"
	dropBadAddress      = "invalid_address"
	dropForeignCluster  = "foreign_cluster"
	dropUnauthenticated = "unauthenticated"  // no tag, and we have a key
	dropUnknownKey      = "unknown_key"      // signed with a key not in our ring
	dropBadTag          = "bad_tag"          // the tag does not match: forged, or altered
	dropKeyed           = "keyed"            // signed, and we have no key to check it
	dropRateLimited     = "rate_limited"     // its source sent more than its share
	dropAddressMismatch = "address_mismatch" // unsigned, and rpc_ip is not where it came from
)

// beaconDropReasons lists every reason above, in the order metrics show them.
var beaconDropReasons = [...]string{dropTooLarge, dropUndecodable, dropBadAddress, dropForeignCluster,
	dropUnauthenticated, dropUnknownKey, dropBadTag, dropKeyed, dropRateLimited, dropAddressMismatch}

func dropIndex(reason string) int {
	for i, r := range beaconDropReasons {
		if r == reason {
			return i
		}
	}
	panic("netshell: unknown beacon drop reason " + reason) // the reasons are this file's constants
}

// encodeBeacon is one discovery datagram announcing b. b.Addr is the
// advertised "ip:port"; an empty ip tells receivers to use the datagram's
// source address. With keys (a cluster key) it is signed with the primary
// key and its hash masked (beacon_auth.go).
func encodeBeacon(b state.Beacon, keys *beaconKeys) ([]byte, error) {
	host, port, err := net.SplitHostPort(b.Addr)
	if err != nil {
		return nil, fmt.Errorf("beacon address %q: %w", b.Addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("beacon port %q: %w", port, err)
	}
	pb := &discoverypb.Beacon{
		InstanceUuid:    b.Instance,
		ClusterId:       b.Cluster,
		RpcIp:           host,
		RpcPort:         int32(p),
		TopicStateHash:  b.Hash,
		TimestampMs:     b.WallMs,
		ProtocolVersion: b.Version,
		BootEpoch:       b.Epoch,
		Counter:         b.Counter,
		Leaving:         b.Leaving,
	}
	if keys == nil {
		return proto.Marshal(pb)
	}
	pb.KeyId = keys.primary()
	pb.TopicStateHash ^= keys.hashMask(pb.KeyId, b.Instance, b.Epoch, b.Counter)
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(pb)
	if err != nil {
		return nil, err
	}
	return keys.seal(pb.KeyId, data), nil
}

// decodeBeacon reads one datagram that came from src. The peer's mesh
// address is the beacon's rpc_ip, or src when rpc_ip is empty or
// unspecified; an unsigned beacon whose rpc_ip is not src is dropped. A
// beacon of another cluster, or one that fails the cluster key (keys;
// nil: none), goes no further than its decode. On failure it returns the
// drop reason.
func decodeBeacon(data []byte, src netip.Addr, cluster string, keys *beaconKeys) (state.Beacon, string) {
	var pb discoverypb.Beacon
	if err := proto.Unmarshal(data, &pb); err != nil {
		return state.Beacon{}, dropUndecodable
	}
	if pb.ClusterId != cluster {
		return state.Beacon{}, dropForeignCluster
	}
	switch {
	case keys != nil:
		if reason := keys.check(data, pb.KeyId, pb.AuthTag); reason != "" {
			return state.Beacon{}, reason
		}
		pb.TopicStateHash ^= keys.hashMask(pb.KeyId, pb.InstanceUuid, pb.BootEpoch, pb.Counter)
	case len(pb.AuthTag) > 0:
		return state.Beacon{}, dropKeyed
	}
	if pb.RpcPort < 1 || pb.RpcPort > 65535 {
		return state.Beacon{}, dropBadAddress
	}
	ip := src.Unmap()
	if pb.RpcIp != "" {
		a, err := netip.ParseAddr(pb.RpcIp)
		switch {
		case err != nil || a.IsMulticast():
			return state.Beacon{}, dropBadAddress
		case a.IsUnspecified():
		case keys == nil && ip.IsValid() && a.Unmap() != ip:
			// No reflection (docs/protocol.md §2.3): an unsigned beacon
			// could name any address, and every node that took it would
			// fetch from there. A signed one names its sender's own.
			return state.Beacon{}, dropAddressMismatch
		default:
			ip = a.Unmap()
		}
	}
	if !ip.IsValid() || ip.IsUnspecified() {
		return state.Beacon{}, dropBadAddress
	}
	b := state.Beacon{
		Instance: pb.InstanceUuid,
		Cluster:  pb.ClusterId,
		Addr:     netip.AddrPortFrom(ip, uint16(pb.RpcPort)).String(),
		Hash:     pb.TopicStateHash,
		Version:  pb.ProtocolVersion,
		WallMs:   pb.TimestampMs,
		Leaving:  pb.Leaving,
	}
	if keys != nil {
		b.Member, b.Epoch, b.Counter = true, pb.BootEpoch, pb.Counter
	}
	return b, ""
}

func envelopeToProto(e *state.Envelope) *meshpb.MessageEnvelope {
	p := new(meshpb.MessageEnvelope)
	fillEnvelopeProto(p, e)
	return p
}

// fillEnvelopeProto sets the fields of p, a fresh message, from e.
func fillEnvelopeProto(p *meshpb.MessageEnvelope, e *state.Envelope) {
	p.MessageId, p.Topic, p.Payload = e.ID, e.Topic, e.Payload
	p.TimestampMs, p.SourceNodeId, p.Retain = e.TimestampMs, e.Source, e.Retain
	p.TtlMs, p.SourceSequence, p.PrevSourceSequence, p.SyncOnly = e.TTLMs, e.SourceSeq, e.PrevSeq, e.SyncOnly
	if x := e.Extras; x != nil {
		p.ContentType, p.CorrelationId, p.ReplyTo = x.ContentType, x.Correlation, x.ReplyTo
		p.DroppedFrom, p.QueueGroups = x.DroppedFrom, x.QueueGroups
	}
}

func envelopeFromProto(p *meshpb.MessageEnvelope) state.Envelope {
	return state.Envelope{
		ID:          p.GetMessageId(),
		Topic:       p.GetTopic(),
		Payload:     p.GetPayload(),
		TimestampMs: p.GetTimestampMs(),
		Source:      p.GetSourceNodeId(),
		Retain:      p.GetRetain(),
		TTLMs:       p.GetTtlMs(),
		SourceSeq:   p.GetSourceSequence(),
		PrevSeq:     p.GetPrevSourceSequence(),
		SyncOnly:    p.GetSyncOnly(),
		Extras: state.ExtrasOf(state.Extras{
			ContentType: p.GetContentType(),
			Correlation: p.GetCorrelationId(),
			ReplyTo:     p.GetReplyTo(),
			QueueGroups: p.GetQueueGroups(),
			DroppedFrom: p.GetDroppedFrom(),
		}),
	}
}

func envelopesFromProto(ps []*meshpb.MessageEnvelope) []state.Envelope {
	out := make([]state.Envelope, len(ps))
	for i, p := range ps {
		out[i] = envelopeFromProto(p)
	}
	return out
}

func nodeStateToProto(s *state.NodeState) *meshpb.NodeState {
	pb := &meshpb.NodeState{
		InstanceUuid:     s.Instance,
		Topics:           s.Patterns,
		TopicStateHash:   s.Hash,
		RetainedMessages: make(map[string]*meshpb.MessageEnvelope, len(s.Retained)),
	}
	for i := range s.Retained {
		pb.RetainedMessages[s.Retained[i].Topic] = envelopeToProto(&s.Retained[i])
	}
	for _, g := range s.QueueGroups {
		pb.QueueGroups = append(pb.QueueGroups, &meshpb.QueueGroupMembers{Pattern: g.Pattern, Group: g.Group, Members: g.Members})
	}
	return pb
}

// nodeStateFromProto reads a fetched state. A retained envelope without a
// topic takes its map key (the key equals the topic in the contract).
func nodeStateFromProto(pb *meshpb.NodeState) *state.NodeState {
	s := &state.NodeState{
		Instance: pb.GetInstanceUuid(),
		Patterns: pb.GetTopics(),
		Hash:     pb.GetTopicStateHash(),
		Retained: make([]state.Envelope, 0, len(pb.GetRetainedMessages())),
	}
	for topic, e := range pb.GetRetainedMessages() {
		env := envelopeFromProto(e)
		if env.Topic == "" {
			env.Topic = topic
		}
		s.Retained = append(s.Retained, env)
	}
	slices.SortFunc(s.Retained, func(a, b state.Envelope) int { return strings.Compare(a.Topic, b.Topic) })
	for _, g := range pb.GetQueueGroups() {
		s.QueueGroups = append(s.QueueGroups, state.GroupMembers{Pattern: g.GetPattern(), Group: g.GetGroup(), Members: g.GetMembers()})
	}
	return s
}

// resendRequestToProto asks e.Peer, as instance self, for a range.
func resendRequestToProto(e *state.RequestResend, self string) *meshpb.ResendRequest {
	return &meshpb.ResendRequest{SourceNodeId: e.Peer, Topic: e.Topic, FromSequence: e.From, ToSequence: e.To, RequesterNodeId: self}
}

// resendRequestFromProto reads a ResendRequest; the error is already a
// gRPC status.
func resendRequestFromProto(req uint64, pb *meshpb.ResendRequest) (*state.ResendRequested, error) {
	if pb.GetToSequence() < pb.GetFromSequence() {
		return nil, status.Errorf(codes.InvalidArgument, "to_sequence %d is below from_sequence %d", pb.GetToSequence(), pb.GetFromSequence())
	}
	return &state.ResendRequested{Req: req, Source: pb.GetSourceNodeId(), Requester: pb.GetRequesterNodeId(),
		Topic: pb.GetTopic(), From: pb.GetFromSequence(), To: pb.GetToSequence()}, nil
}

func resendReplyToProto(r *state.ResendReply) *meshpb.ResendResponse {
	pb := &meshpb.ResendResponse{InstanceUuid: r.Instance, FirstAvailable: r.FirstAvailable, FirstSent: r.FirstSent, Latest: r.Latest,
		Messages: make([]*meshpb.MessageEnvelope, len(r.Msgs))}
	for i := range r.Msgs {
		pb.Messages[i] = envelopeToProto(&r.Msgs[i])
	}
	return pb
}

func resendReplyFromProto(pb *meshpb.ResendResponse) *state.ResendReply {
	return &state.ResendReply{Instance: pb.GetInstanceUuid(), FirstAvailable: pb.GetFirstAvailable(),
		FirstSent: pb.GetFirstSent(), Latest: pb.GetLatest(), Msgs: envelopesFromProto(pb.GetMessages())}
}

// pushAck is the answer to one pushed envelope. A refusal for now (the
// node's Unavailable) asks the sender to retry.
func pushAck(id string, err error) *meshpb.Ack {
	if err != nil {
		return &meshpb.Ack{MessageId: id, ErrorMessage: err.Error(), Retry: state.CodeOf(err) == state.Unavailable}
	}
	return &meshpb.Ack{MessageId: id, Success: true}
}

// refusalsFromProto reads the refusals of a push answer.
func refusalsFromProto(acks []*meshpb.Ack) []pushstream.Refusal {
	if len(acks) == 0 {
		return nil
	}
	out := make([]pushstream.Refusal, len(acks))
	for i, a := range acks {
		out[i] = pushstream.Refusal{ID: a.GetMessageId(), Retry: a.GetRetry(), Reason: a.GetErrorMessage()}
	}
	return out
}

func publishFromProto(req uint64, p *sidecarpb.PublishRequest) *state.Published {
	e := new(state.Published)
	publishInto(e, req, p)
	return e
}

// checkPublishBatch refuses a PublishStream batch over the daemon's limit.
func checkPublishBatch(n, limit int) error {
	if n > limit {
		return status.Errorf(codes.InvalidArgument, "batch of %d requests: the limit is %d; split it", n, limit)
	}
	return nil
}

// unsubscribeFromProto reads an UnsubscribeRequest; the error is already a
// gRPC status.
func unsubscribeFromProto(req uint64, p *sidecarpb.UnsubscribeRequest) (*state.Unsubscribed, error) {
	if p.GetSubscriptionId() == "" {
		return nil, status.Error(codes.InvalidArgument, "subscription_id is empty: pass the id from the stream's SubscriptionInfo")
	}
	return &state.Unsubscribed{Req: req, SubID: p.GetSubscriptionId(), Pause: p.GetPause()}, nil
}

// streamSizes is a subscription stream's credit window and the most
// messages it packs into one event, from the request's max_batch and the
// daemon's options.
func streamSizes(o *Options, maxBatch int32) (window, batch int) {
	batch = min(max(int(maxBatch), 1), o.MaxBatch)
	return max(o.StreamWindow, 2*batch), batch
}

// borrowBatch fills pubs from a PublishStream batch decoded in place and
// kept until it is answered (PublishedBatch.Borrowed), numbering the
// requests from base: each payload stays in the batch's buffer for the
// node to copy what it keeps, once; the topic is given as a copy of its
// own (shared by a run of one topic), and the texts are copied out. It
// sets every field of a publish one by one, not with a composite literal,
// for the reason state's outgoing.copyTo gives.
func borrowBatch(pubs []state.Published, base uint64, reqs []*sidecarpb.PublishRequest, copies *arena) {
	topic := ""
	for i, r := range reqs {
		if r.GetTopic() != topic {
			topic = strings.Clone(r.GetTopic())
		}
		e := &pubs[i]
		e.Req = base + uint64(i)
		e.Topic = topic
		e.Payload = r.GetPayload()
		e.Retain = r.GetRetain()
		e.TTLMs = r.GetTtlMs()
		e.Extras = copies.extras(r.GetContentType(), r.GetCorrelationId(), r.GetReplyTo())
	}
	copies.done()
}

// publishInto fills e from p, so a batch can fill a slab of events.
func publishInto(e *state.Published, req uint64, p *sidecarpb.PublishRequest) {
	*e = state.Published{
		Req:     req,
		Topic:   p.GetTopic(),
		Payload: p.GetPayload(),
		Retain:  p.GetRetain(),
		TTLMs:   p.GetTtlMs(),
		Extras:  state.ExtrasOf(state.Extras{ContentType: p.GetContentType(), Correlation: p.GetCorrelationId(), ReplyTo: p.GetReplyTo()}),
	}
}

func publishResultToProto(r *state.PublishResult) *sidecarpb.PublishResponse {
	return &sidecarpb.PublishResponse{
		Success:            true,
		MessageId:          r.MessageID,
		SubscriberCount:    int32(r.Subscribers),
		SubscribersDropped: int32(r.Dropped),
		SubscribersBlocked: int32(r.Blocked),
	}
}

// checkMaxBatch refuses a negative max_batch, on the calls that batch
// messages into MessageEvents (Subscribe, ResumeSubscribe): the packed ones
// ignore it.
func checkMaxBatch(n int32) error {
	if n < 0 {
		return status.Errorf(codes.InvalidArgument, "max_batch %d is negative: give 0 or 1 for one message per event, or up to the batch you want", n)
	}
	return nil
}

// subscribeFromProto reads a SubscribeRequest, but for its max_batch
// (checkMaxBatch); the error is already a gRPC status.
func subscribeFromProto(stream uint64, credit int, p *sidecarpb.SubscribeRequest) (*state.Subscribed, error) {
	policy, err := policyFromProto(p.GetBackpressurePolicy())
	if err != nil {
		return nil, err
	}
	if p.GetResumeWindowMs() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "resume_window_ms %d is negative: give 0 to end the subscription with its stream, or how long to keep it for a resume", p.GetResumeWindowMs())
	}
	if g := p.GetQueueGroup(); g != "" {
		if err := state.ValidateGroup(g); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	}
	return &state.Subscribed{
		Stream:          stream,
		Patterns:        p.GetTopics(),
		ClientID:        p.GetClientId(),
		ReceiveRetained: p.GetReceiveRetained(),
		QueueLimit:      int(p.GetMaxBufferSize()),
		Policy:          policy,
		Credit:          credit,
		ResumeWindow:    time.Duration(p.GetResumeWindowMs()) * time.Millisecond,
		Group:           p.GetQueueGroup(),
	}, nil
}

// resumeFromProto reads a ResumeSubscribeRequest, but for its max_batch
// (checkMaxBatch); the error is already a gRPC status.
func resumeFromProto(stream uint64, credit int, p *sidecarpb.ResumeSubscribeRequest) (*state.Resumed, error) {
	if p.GetSubscriptionId() == "" && len(p.GetTopics()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "give subscription_id (from SubscriptionInfo), or topics to resume by topic")
	}
	last := make(map[string]uint64, len(p.GetLastSequencePerTopic()))
	for topic, seq := range p.GetLastSequencePerTopic() {
		if seq < 0 {
			return nil, status.Errorf(codes.InvalidArgument, "last_sequence_per_topic[%q] is %d: sequence numbers start at 1; give 0 or leave the topic out to replay all", topic, seq)
		}
		last[topic] = uint64(seq)
	}
	policy, err := policyFromProto(p.GetBackpressurePolicy())
	if err != nil {
		return nil, err
	}
	if p.GetMaxBufferSize() < 0 || p.GetResumeWindowMs() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "max_buffer_size %d and resume_window_ms %d may not be negative",
			p.GetMaxBufferSize(), p.GetResumeWindowMs())
	}
	var mode state.Recovery
	switch m := p.GetGapRecoveryMode(); m {
	case sidecarpb.GapRecoveryMode_GAP_RECOVERY_NONE:
		mode = state.RecoverNone
	case sidecarpb.GapRecoveryMode_GAP_RECOVERY_RETAINED_ONLY:
		mode = state.RecoverRetained
	case sidecarpb.GapRecoveryMode_GAP_RECOVERY_REPLAY_BUFFER:
		mode = state.RecoverReplay
	default:
		return nil, status.Errorf(codes.InvalidArgument, "gap_recovery_mode %d is unknown: give 0 (GAP_RECOVERY_NONE), 1 (GAP_RECOVERY_RETAINED_ONLY) or 2 (GAP_RECOVERY_REPLAY_BUFFER)", int32(m))
	}
	return &state.Resumed{
		Stream:          stream,
		SubID:           p.GetSubscriptionId(),
		Patterns:        p.GetTopics(),
		LastSeq:         last,
		Mode:            mode,
		ReceiveRetained: p.GetReceiveRetained(),
		Credit:          credit,
		ClientID:        p.GetClientId(),
		QueueLimit:      int(p.GetMaxBufferSize()),
		Policy:          policy,
		ResumeWindow:    time.Duration(p.GetResumeWindowMs()) * time.Millisecond,
	}, nil
}

// policyFromProto reads a backpressure_policy field; empty means the
// daemon's default.
func policyFromProto(s string) (state.Policy, error) {
	if s == "" {
		return state.PolicyDefault, nil
	}
	p, err := state.ParsePolicy(s)
	if err != nil {
		return 0, status.Error(codes.InvalidArgument, err.Error())
	}
	return p, nil
}

func messageToProto(m *state.Message) *sidecarpb.Message {
	p := new(sidecarpb.Message)
	fillMessage(p, m)
	return p
}

// fillMessage sets every field of p from m, so a Message can be reused.
func fillMessage(p *sidecarpb.Message, m *state.Message) {
	p.MessageId = m.MessageID() // named by the node before it left (Node.named)
	p.Topic = m.Topic
	p.Payload = m.Payload
	p.ContentType = m.ContentType()
	p.TimestampMs = m.TimestampMs
	p.SourceNodeId = m.Source
	p.CorrelationId = m.Correlation()
	p.SequenceNumber = int64(m.Seq)
	p.ReplyTo = m.ReplyTo()
}

// fillInfo sets every field of p from i, so a SubscriptionInfo can be
// reused.
func fillInfo(p *sidecarpb.SubscriptionInfo, i *state.SubscriptionInfo) {
	p.SubscriptionId = i.SubID
	p.Topics = i.Patterns
	p.TimestampMs = i.WallMs
	p.GapDetected = i.GapDetected
	p.MissedMessageCount = int32(min(i.Missed, 1<<31-1))
	p.ReplayStarted = i.ReplayStarted
}

// outToProto converts one stream event.
func outToProto(o *state.Out) *sidecarpb.MessageEvent {
	switch o.Kind {
	case state.OutInfo:
		p := new(sidecarpb.SubscriptionInfo)
		fillInfo(p, o.Info)
		return &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_SubscriptionInfo{SubscriptionInfo: p}}
	case state.OutMessage:
		return &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_Message{Message: messageToProto(o.Msg)}}
	case state.OutRetained:
		return &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_RetainedMessage{RetainedMessage: messageToProto(o.Msg)}}
	case state.OutReplay:
		return &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_ReplayMessage{ReplayMessage: messageToProto(o.Msg)}}
	case state.OutReplayComplete:
		return &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_ReplayComplete{ReplayComplete: &sidecarpb.ReplayComplete{
			Topic: o.Done.Topic, ReplayedCount: int32(o.Done.Count), LatestSequence: int64(o.Done.Latest),
		}}}
	case state.OutHeartbeat:
		return &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_Heartbeat{Heartbeat: &sidecarpb.Heartbeat{TimestampMs: o.WallMs}}}
	case state.OutWarning:
		w := o.Warning // running totals since the subscription started, as the contract says
		return &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_BackpressureWarning{BackpressureWarning: &sidecarpb.BackpressureWarning{
			MessagesDropped:    w.Dropped,
			MessagesExpired:    w.Expired,
			MessagesLost:       w.Lost,
			QueueDepth:         uint64(w.Depth),
			QueueLimit:         uint64(w.Limit),
			Reason:             w.Reason,
			OldestMessageAgeMs: w.OldestAgeMs,
		}}}
	}
	return nil
}

// batchToProto packs live messages into one MessageEvent.batch.
func batchToProto(outs []state.Out) *sidecarpb.MessageEvent {
	b := &sidecarpb.MessageBatch{Messages: make([]*sidecarpb.Message, len(outs))}
	for i := range outs {
		b.Messages[i] = messageToProto(outs[i].Msg)
	}
	return &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_Batch{Batch: b}}
}

func peerToProto(p *state.PeerInfo, cluster string, withState bool) *sidecarpb.PeerInfo {
	pb := &sidecarpb.PeerInfo{
		InstanceUuid:   p.ID,
		Endpoint:       p.Addr,
		LastSeenMs:     p.LastSeenMs,
		ClusterId:      cluster,
		TopicStateHash: p.Hash,
		Status:         p.Status.String(),
	}
	if withState {
		pb.Topics = p.Patterns
	}
	return pb
}

func topicsToProto(counts map[string]int) *sidecarpb.GetTopicsResponse {
	pb := &sidecarpb.GetTopicsResponse{Topics: make(map[string]int32, len(counts))}
	for t, n := range counts {
		pb.Topics[t] = int32(n)
	}
	return pb
}

// grpcCode maps the node's refusal codes to gRPC codes.
func grpcCode(err error) codes.Code {
	switch state.CodeOf(err) {
	case state.Invalid:
		return codes.InvalidArgument
	case state.NotFound:
		return codes.NotFound
	case state.Limit:
		return codes.ResourceExhausted
	case state.Unavailable:
		return codes.Unavailable
	}
	return codes.Internal
}

// statusOf is the gRPC status error for a refusal from the node.
func statusOf(err error) error {
	if err == nil {
		return nil
	}
	return status.Error(grpcCode(err), err.Error())
}

// codeName is a gRPC code as PublishFailure.code spells it: INVALID_ARGUMENT.
func codeName(c codes.Code) string {
	var b strings.Builder
	lower := false
	for _, r := range c.String() {
		upper := r >= 'A' && r <= 'Z'
		if upper && lower {
			b.WriteByte('_')
		}
		lower = !upper
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}
