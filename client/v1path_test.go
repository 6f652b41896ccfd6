package client_test

import "testing"

// TestTheV1Path runs the tests that use real daemons again with packed
// frames off, so PublishStream, Subscribe and ResumeSubscribe keep every
// behaviour they check (the other tests run on the packed RPCs, the
// default). TestSlowReaderUnderEachPolicy runs both paths itself.
func TestTheV1Path(t *testing.T) {
	if testing.Short() {
		t.Skip("the v1 path takes as long again")
	}
	onV1 = true
	defer func() { onV1 = false }()
	for name, test := range map[string]func(*testing.T){
		"PublisherSettlesEveryMessage":         TestPublisherSettlesEveryMessage,
		"PublisherStreamBreak":                 TestPublisherStreamBreak,
		"PublishSubscribeCarriesEveryField":    TestPublishSubscribeCarriesEveryField,
		"MessagesIteratorAndBatchedDelivery":   TestMessagesIteratorAndBatchedDelivery,
		"PeersAndMeshRouting":                  TestPeersAndMeshRouting,
		"DaemonKilledAndRestartedMidStream":    TestDaemonKilledAndRestartedMidStream,
		"NetworkCutLosesNothingTheDaemonHolds": TestNetworkCutLosesNothingTheDaemonHolds,
		"PauseAndResume":                       TestPauseAndResume,
		"EndedSubscriptionIsNotKeptForAResume": TestEndedSubscriptionIsNotKeptForAResume,
		"PublishSubscribeOverTheUnixSocket":    TestPublishSubscribeOverTheUnixSocket,
		"RequestReplyAcrossTwoDaemons":         TestRequestReplyAcrossTwoDaemons,
	} {
		t.Run(name, test)
	}
}
