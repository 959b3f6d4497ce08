package sandbox

import groovy.transform.CompileStatic

/** RecordingMetaClass hands every call, constructor and property access to SandboxRecorder before the real metaclass runs it. */
@CompileStatic
class RecordingMetaClass extends DelegatingMetaClass {
    RecordingMetaClass(MetaClass delegate) {
        super(delegate)
    }

    @Override
    Object invokeMethod(Object object, String name, Object[] args) {
        SandboxRecorder.onCall(object, name, args)
        return super.invokeMethod(object, name, args)
    }

    @Override
    Object invokeMethod(Object object, String name, Object arg) {
        SandboxRecorder.onCall(object, name, SandboxRecorder.asArgs(arg))
        return super.invokeMethod(object, name, arg)
    }

    @Override
    Object invokeMethod(Class sender, Object receiver, String name, Object[] args, boolean isCallToSuper, boolean fromInsideClass) {
        SandboxRecorder.onCall(receiver, name, args)
        return super.invokeMethod(sender, receiver, name, args, isCallToSuper, fromInsideClass)
    }

    @Override
    Object invokeStaticMethod(Object object, String name, Object[] args) {
        SandboxRecorder.onStatic(object instanceof Class ? (Class) object : theClass, name, args)
        return super.invokeStaticMethod(object, name, args)
    }

    @Override
    Object invokeConstructor(Object[] args) {
        SandboxRecorder.onNew(theClass, args)
        return super.invokeConstructor(args)
    }

    @Override
    Object getProperty(Object object, String property) {
        SandboxRecorder.onGet(object, property)
        return super.getProperty(object, property)
    }

    @Override
    Object getProperty(Class sender, Object receiver, String property, boolean isCallToSuper, boolean fromInsideClass) {
        SandboxRecorder.onGet(receiver, property)
        return super.getProperty(sender, receiver, property, isCallToSuper, fromInsideClass)
    }

    @Override
    void setProperty(Object object, String property, Object value) {
        SandboxRecorder.onSet(object, property, value)
        super.setProperty(object, property, value)
    }

    @Override
    void setProperty(Class sender, Object receiver, String property, Object value, boolean isCallToSuper, boolean fromInsideClass) {
        SandboxRecorder.onSet(receiver, property, value)
        super.setProperty(sender, receiver, property, value, isCallToSuper, fromInsideClass)
    }

    @Override
    Object getAttribute(Object object, String attribute) {
        SandboxRecorder.onField(object, attribute)
        return super.getAttribute(object, attribute)
    }

    @Override
    void setAttribute(Object object, String attribute, Object value) {
        SandboxRecorder.onField(object, attribute)
        super.setAttribute(object, attribute, value)
    }
}
