package netshell

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// The test names the codec by its package path rather than importing it,
// so it fails if the shell stops importing internal/vtcodec.
const vtcodecPkg = "github.com/nexusd/nexusd/internal/vtcodec"

func TestTheDaemonEncodesWithTheVTProtobufCodec(t *testing.T) {
	c := encoding.GetCodecV2("proto")
	if c == nil || reflect.TypeOf(c).PkgPath() != vtcodecPkg {
		t.Fatalf(`gRPC's "proto" codec is %T, want %s.Codec: netshell/codec.go must import it`, c, vtcodecPkg)
	}
}

// Every message of the sidecar and mesh schemas, filled in every field
// (each oneof member in turn, unknown fields too), encodes to the bytes
// protobuf-go writes, and protobuf-go's bytes decode to an equal message:
// a v1 peer or client built from the .proto files sees no difference.
func TestTheCodecWritesAndReadsProtobufGoWireBytes(t *testing.T) {
	c := encoding.GetCodecV2("proto")
	checked := 0
	for _, fd := range []protoreflect.FileDescriptor{sidecarpb.File_sidecar_proto, meshpb.File_mesh_proto} {
		msgs := fd.Messages()
		for i := range msgs.Len() {
			md := msgs.Get(i)
			mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := mt.New().Interface().(interface{ SizeVT() int }); !ok {
				t.Errorf("%s has no vtprotobuf methods: run make proto", md.FullName())
				continue
			}
			for variant := range variants(md) {
				m := mt.New()
				fill(m, variant, 0)
				m.SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 7))
				want, err := proto.Marshal(m.Interface())
				if err != nil {
					t.Fatal(err)
				}
				data, err := c.Marshal(m.Interface())
				if err != nil {
					t.Fatalf("%s: %v", md.FullName(), err)
				}
				if got := data.Materialize(); !bytes.Equal(got, want) {
					t.Fatalf("%s variant %d: codec writes\n%x\nprotobuf-go writes\n%x", md.FullName(), variant, got, want)
				}
				out := mt.New().Interface()
				if err := c.Unmarshal(data, out); err != nil {
					t.Fatalf("%s: %v", md.FullName(), err)
				}
				if !proto.Equal(out, m.Interface()) {
					t.Fatalf("%s variant %d: decoded %v, want %v", md.FullName(), variant, out, m.Interface())
				}
				checked++
			}
		}
	}
	if checked < 30 {
		t.Fatalf("checked only %d encodings: are the schemas' messages registered?", checked)
	}
}

// variants is how many encodings of md cover each member of its largest
// oneof.
func variants(md protoreflect.MessageDescriptor) int {
	n := 1
	for i := range md.Oneofs().Len() {
		n = max(n, md.Oneofs().Get(i).Fields().Len())
	}
	return n
}

// fill sets every field of m to a value that is not the default: scalars
// from their field number, two elements in lists, one entry in maps (so the
// encoding does not depend on map order), nested messages three deep, and
// member variant of each oneof.
func fill(m protoreflect.Message, variant, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() && o.Fields().Get(variant%o.Fields().Len()) != f {
			continue
		}
		if f.Message() != nil && depth >= 3 {
			continue
		}
		switch {
		case f.IsMap():
			mp := m.Mutable(f).Map()
			v := mp.NewValue()
			if f.MapValue().Message() != nil {
				fill(v.Message(), variant, depth+1)
			} else {
				v = value(f.MapValue(), variant, 0)
			}
			mp.Set(value(f.MapKey(), variant, 0).MapKey(), v)
		case f.IsList():
			l := m.Mutable(f).List()
			for k := range 2 {
				if f.Message() != nil {
					e := l.NewElement()
					fill(e.Message(), variant+k, depth+1)
					l.Append(e)
				} else {
					l.Append(value(f, variant, k))
				}
			}
		case f.Message() != nil:
			fill(m.Mutable(f).Message(), variant, depth+1)
		default:
			m.Set(f, value(f, variant, 0))
		}
	}
}

// value is a non-default scalar of field f's kind; k tells list elements
// apart.
func value(f protoreflect.FieldDescriptor, variant, k int) protoreflect.Value {
	n := int64(f.Number())*1000 + int64(k)
	switch f.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		vals := f.Enum().Values()
		return protoreflect.ValueOfEnum(vals.Get(vals.Len() - 1).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(int32(-n))
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(-n << 20)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(uint32(n))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(uint64(n) << 40)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(float32(n) + 0.5)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(float64(n) + 0.25)
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(fmt.Sprintf("%s-%d-%d", f.Name(), variant, k))
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes(bytes.Repeat([]byte{byte(n), 0, 0xff}, 40+k))
	}
	panic(fmt.Sprintf("field %s: kind %v not covered", f.FullName(), f.Kind()))
}

// BenchmarkCodec compares gRPC's protobuf-go codec with the registered one
// on the two frames of the local data path: a 64-message PublishBatch the
// daemon decodes, and the 64-message batch event it encodes for a
// subscriber (128-byte payloads, ids as the daemon fills them).
func BenchmarkCodec(b *testing.B) {
	pub := &sidecarpb.PublishBatch{}
	ev := &sidecarpb.MessageBatch{}
	for i := range 64 {
		payload := bytes.Repeat([]byte{byte(i)}, 128)
		pub.Requests = append(pub.Requests, &sidecarpb.PublishRequest{Topic: "bench/t", Payload: payload})
		ev.Messages = append(ev.Messages, &sidecarpb.Message{
			MessageId: fmt.Sprintf("0f8fad5b-d9cb-469f-a165-%012d", i), Topic: "bench/t", Payload: payload,
			TimestampMs: 1767225600000, SourceNodeId: "7c9e6679-7425-40de-944b-e07fc1f90ae7", SequenceNumber: int64(i + 1),
		})
	}
	event := &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_Batch{Batch: ev}}
	frame, _ := proto.Marshal(pub)
	for _, c := range []struct {
		name  string
		codec encoding.CodecV2
	}{{"protobuf-go", protobufGoCodec{}}, {"vtcodec", encoding.GetCodecV2("proto")}} {
		b.Run(c.name+"/decode-publish-batch", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := c.codec.Unmarshal(mem.BufferSlice{mem.SliceBuffer(frame)}, &sidecarpb.PublishBatch{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/encode-message-batch", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				data, err := c.codec.Marshal(event)
				if err != nil {
					b.Fatal(err)
				}
				data.Free()
			}
		})
	}
}

// protobufGoCodec is what gRPC's own codec does, for the comparison.
type protobufGoCodec struct{}

func (protobufGoCodec) Name() string { return "proto" }

func (protobufGoCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, err := proto.Marshal(v.(proto.Message))
	return mem.BufferSlice{mem.SliceBuffer(b)}, err
}

func (protobufGoCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return proto.Unmarshal(data.Materialize(), v.(proto.Message))
}
