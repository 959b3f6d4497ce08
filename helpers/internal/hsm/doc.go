// Package hsm opens PKCS#11 tokens through crypto11 and turns their failures into classified errors.
package hsm
