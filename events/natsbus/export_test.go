package natsbus

import "time"

// SetPublishAckWait shortens PublishAckWait for buses made until restore.
func SetPublishAckWait(d time.Duration) (restore func()) {
	before := publishAckWait
	publishAckWait = d
	return func() { publishAckWait = before }
}
