package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// readJSON decodes the state-dir record at path into v. It reports false
// (and no error) when there is no record; what names the record in errors.
func readJSON(path, what string, v any) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", what, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s %s is corrupt: %w", what, path, err)
	}
	return true, nil
}

// writeJSON records v at path durably (fsynced, 0600: plans can name keys'
// files and previous configurations).
func writeJSON(path, what string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	return writeFileSync(path, data, 0o600)
}
