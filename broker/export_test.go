package broker

import "go.uber.org/zap"

// CheckStore runs the start's check of a stopped data directory's store
// under its default key file.
func CheckStore(dataDir string) error {
	key, err := readStoreKey(DefaultStoreKeyFile(dataDir))
	if err != nil {
		return err
	}
	return checkStore(Config{DataDir: dataDir, Log: zap.NewNop()}, key)
}
