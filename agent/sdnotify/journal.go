package sdnotify

import (
	"fmt"
	"os"
	"syscall"
)

// JournalStream reports whether f (normally stderr) is connected to
// journald's stream socket: systemd sets $JOURNAL_STREAM to the
// "device:inode" of that socket, and the variable only counts when f is
// still that very file (a child whose stderr was redirected inherits the
// variable, not the connection), as systemd.exec(5) prescribes. Then the
// journal stamps every line itself and a logger need not.
func JournalStream(f *os.File) bool {
	return journalStream(os.Getenv("JOURNAL_STREAM"), f)
}

func journalStream(env string, f *os.File) bool {
	if env == "" || f == nil {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return env == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}
