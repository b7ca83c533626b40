package store

import (
	"errors"
	"regexp"
	"strconv"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/trackstream/trackstream/internal/chdb"
)

// ErrRejected marks an insert ClickHouse refused because of the data (a
// value it cannot parse or store), as opposed to an unavailable or
// overloaded server.
var ErrRejected = errors.New("clickhouse rejected the rows")

// ClickHouse error codes the classifiers below look for.
const (
	codeTimeoutExceeded     = 159 // TIMEOUT_EXCEEDED
	codeMemoryLimitExceeded = 241 // MEMORY_LIMIT_EXCEEDED
	codeTooManyRowsOrBytes  = 396 // TOO_MANY_ROWS_OR_BYTES
)

// dataErrorCodes are ClickHouse error codes caused by the inserted data.
var dataErrorCodes = map[int]bool{
	6:   true, // CANNOT_PARSE_TEXT
	25:  true, // CANNOT_PARSE_ESCAPE_SEQUENCE
	26:  true, // CANNOT_PARSE_QUOTED_STRING
	27:  true, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
	38:  true, // CANNOT_PARSE_DATE
	41:  true, // CANNOT_PARSE_DATETIME
	53:  true, // TYPE_MISMATCH
	62:  true, // SYNTAX_ERROR (a malformed value inside the rows)
	69:  true, // ARGUMENT_OUT_OF_BOUND
	70:  true, // CANNOT_CONVERT_TYPE
	72:  true, // CANNOT_PARSE_NUMBER
	117: true, // INCORRECT_DATA
	131: true, // TOO_LARGE_STRING_SIZE
	321: true, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
	349: true, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
	641: true, // CANNOT_PARSE_BOOL
}

// IsTimeout reports whether ClickHouse stopped a query at its time limit
// (max_execution_time, TIMEOUT_EXCEEDED).
func IsTimeout(err error) bool { return errorCode(err) == codeTimeoutExceeded }

// IsMemoryLimit reports whether ClickHouse stopped a query at its memory
// limit (max_memory_usage, MEMORY_LIMIT_EXCEEDED).
func IsMemoryLimit(err error) bool { return errorCode(err) == codeMemoryLimitExceeded }

// IsTooManyRows reports whether a query's answer or scan outgrew its row
// or byte limits (max_result_rows and friends, TOO_MANY_ROWS_OR_BYTES).
func IsTooManyRows(err error) bool { return errorCode(err) == codeTooManyRowsOrBytes }

// IsDataError reports whether ClickHouse refused inserted data itself (a
// value it cannot parse or store): retrying the same rows cannot succeed.
func IsDataError(err error) bool { return dataErrorCodes[errorCode(err)] }

// errorCode is the ClickHouse error code err carries, from a server's
// exception or the embedded engine's message, or -1.
func errorCode(err error) int {
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return int(ex.Code)
	}
	var qe *chdb.QueryError
	if errors.As(err, &qe) {
		return messageCode(qe.Message)
	}
	return -1
}

var codePattern = regexp.MustCompile(`Code: (\d+)\.`)

// messageCode extracts the error code from an engine message ("Code: 60.
// DB::Exception: ..."), or -1.
func messageCode(msg string) int {
	m := codePattern.FindStringSubmatch(msg)
	if m == nil {
		return -1
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return -1
	}
	return n
}
