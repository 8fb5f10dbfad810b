package events

// DecodeData is decodeData, for the tests.
var DecodeData = decodeData
