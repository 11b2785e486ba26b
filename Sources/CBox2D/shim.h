// Box2D is C++: this module only carries its include path and link flags to the C++ shim
// (CMetaSimPhysics). Swift code never imports it.
#include <box2d/box2d.h>
