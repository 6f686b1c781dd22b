package envoyadmin

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// opaqueResolver resolves type URLs through the global registry and answers
// every URL it does not know (Istio's stats.PluginConfig,
// udpa.type.v1.TypedStruct, istio.* filter configs, newer Envoy extensions)
// with an empty message type. With DiscardUnknown, protojson then skips the
// fields of such an Any instead of failing on the whole dump.
//
// The placeholder must not be a well-known type: protojson expects the JSON of
// a WKT inside an Any under a "value" key (google.protobuf.Struct would reject
// Istio's filter configs) and treats google.protobuf.Empty specially.
type opaqueResolver struct {
	global      *protoregistry.Types
	placeholder protoreflect.MessageType
}

func newOpaqueResolver() (*opaqueResolver, error) {
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:        proto.String("meshdoctor/envoyadmin/opaque.proto"),
		Package:     proto.String("meshdoctor.envoyadmin"),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{Name: proto.String("Opaque")}},
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("build placeholder message type: %w", err)
	}
	return &opaqueResolver{
		global:      protoregistry.GlobalTypes,
		placeholder: dynamicpb.NewMessageType(fd.Messages().Get(0)),
	}, nil
}

func (r *opaqueResolver) FindMessageByName(name protoreflect.FullName) (protoreflect.MessageType, error) {
	mt, err := r.global.FindMessageByName(name)
	if errors.Is(err, protoregistry.NotFound) {
		return r.placeholder, nil
	}
	return mt, err
}

func (r *opaqueResolver) FindMessageByURL(url string) (protoreflect.MessageType, error) {
	mt, err := r.global.FindMessageByURL(url)
	if errors.Is(err, protoregistry.NotFound) {
		return r.placeholder, nil
	}
	return mt, err
}

func (r *opaqueResolver) FindExtensionByName(field protoreflect.FullName) (protoreflect.ExtensionType, error) {
	return r.global.FindExtensionByName(field)
}

func (r *opaqueResolver) FindExtensionByNumber(message protoreflect.FullName, field protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	return r.global.FindExtensionByNumber(message, field)
}

// unmarshalOptions are the protojson options every admin document is read
// with: unknown fields and enum names (a newer Envoy) are skipped, unknown Any
// types become placeholders.
func unmarshalOptions() (protojson.UnmarshalOptions, error) {
	r, err := newOpaqueResolver()
	if err != nil {
		return protojson.UnmarshalOptions{}, err
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true, Resolver: r}, nil
}
