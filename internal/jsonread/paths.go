package jsonread

import "unicode/utf8"

// Paths walks a checked object or array once, in document order, and
// reports its paths. path is the caller's buffer holding the path of v
// (any prefix); below it each level appends a 0 byte and the member's
// key (unescaped), or a 0 byte alone for the elements of an array. key
// is called for every member key with the path ending in that key;
// leaf for every leaf: a member's scalar value, any array (its elements'
// objects and arrays are walked below it, its scalars are not) and an
// empty object. The walk stops at the first error key returns, leaving
// path as it was at that key. Paths returns path truncated to its
// prefix, for reuse.
//
// Walking once, rather than with Members and Elements at every level,
// reads each byte of v once.
func (v Value) Paths(path []byte, key func(path, key []byte) error, leaf func(path []byte)) ([]byte, error) {
	b := v.b
	if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
		return path, nil
	}
	type frame struct {
		array bool
		mark  int
	}
	var stackBuf [16]frame
	stack := stackBuf[:0]
	prefix := len(path)
	var keyBuf []byte
	i, afterValue := 0, false
	for {
		i = skipWS(b, i)
		if afterValue {
			if len(stack) == 0 || i >= len(b) {
				return path[:prefix], nil
			}
			top := stack[len(stack)-1]
			switch b[i] {
			case ',':
				i++
				if top.array {
					afterValue = false
					continue
				}
				var err error
				path, i, keyBuf, err = member(b, skipWS(b, i), path[:top.mark], keyBuf, key)
				if err != nil {
					return path, err
				}
				afterValue = false
			default: // '}' or ']'
				i++
				path = path[:top.mark]
				stack = stack[:len(stack)-1]
			}
			continue
		}
		inArray := len(stack) > 0 && stack[len(stack)-1].array
		switch b[i] {
		case '{':
			stack = append(stack, frame{mark: len(path)})
			if i = skipWS(b, i+1); b[i] == '}' {
				leaf(path)
				i++
				stack = stack[:len(stack)-1]
				afterValue = true
				continue
			}
			var err error
			path, i, keyBuf, err = member(b, i, path, keyBuf, key)
			if err != nil {
				return path, err
			}
		case '[':
			leaf(path)
			stack = append(stack, frame{array: true, mark: len(path)})
			path = append(path, 0)
			if i = skipWS(b, i+1); b[i] == ']' {
				i++
				path = path[:stack[len(stack)-1].mark]
				stack = stack[:len(stack)-1]
				afterValue = true
			}
		case '"':
			i = stringEnd(b, i)
			if !inArray {
				leaf(path)
			}
			afterValue = true
		default: // a number, true, false or null
			i = valueEnd(b, i)
			if !inArray {
				leaf(path)
			}
			afterValue = true
		}
	}
}

// member reads the key at b[i] (an opening quote) and the colon after it,
// appends 0 and the key to path, calls key, and returns the path, the
// index of the value and the buffer used to unescape keys.
func member(b []byte, i int, path, keyBuf []byte, key func(path, key []byte) error) ([]byte, int, []byte, error) {
	end := stringEnd(b, i)
	k := b[i+1 : end-1]
	for _, c := range k {
		if c == '\\' || c >= utf8.RuneSelf {
			keyBuf = unescape(keyBuf[:0], k)
			k = keyBuf
			break
		}
	}
	path = append(append(path, 0), k...)
	if err := key(path, k); err != nil {
		return path, i, keyBuf, err
	}
	i = skipWS(b, end) + 1 // past ':'
	return path, i, keyBuf, nil
}
