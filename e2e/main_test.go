package e2e

import (
	"os"
	"testing"

	"github.com/nexusd/nexusd/internal/testnet"
)

func TestMain(m *testing.M) { os.Exit(testnet.Main(m)) }
