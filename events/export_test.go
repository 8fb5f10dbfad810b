package events

// DecodeData is decodeData, for the tests.
var DecodeData = decodeData

// ParseInFull and EncodeInFull are Parse and Encode checking every time,
// keeping no verdict: what a consumer in another process pays.
var (
	ParseInFull  = parse
	EncodeInFull = func(e Event) ([]byte, error) { return encode(e, nil) }
)
