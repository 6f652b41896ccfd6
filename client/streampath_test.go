package client_test

import "testing"

// TestThePackedStreamPath runs the subscription tests that use real
// daemons again with a packed stream per subscription (WithSession(false),
// as with a daemon without Session); the other tests run on the Session,
// the default.
func TestThePackedStreamPath(t *testing.T) {
	if testing.Short() {
		t.Skip("the stream path takes as long again")
	}
	onStreams = true
	defer func() { onStreams = false }()
	for name, test := range map[string]func(*testing.T){
		"PublishSubscribeCarriesEveryField":    TestPublishSubscribeCarriesEveryField,
		"MessagesIteratorAndBatchedDelivery":   TestMessagesIteratorAndBatchedDelivery,
		"DaemonKilledAndRestartedMidStream":    TestDaemonKilledAndRestartedMidStream,
		"NetworkCutLosesNothingTheDaemonHolds": TestNetworkCutLosesNothingTheDaemonHolds,
		"PauseAndResume":                       TestPauseAndResume,
		"EndedSubscriptionIsNotKeptForAResume": TestEndedSubscriptionIsNotKeptForAResume,
	} {
		t.Run(name, test)
	}
}
