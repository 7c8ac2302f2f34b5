"""The seed's Keras program, unchanged but for the import: a CNN on MNIST.

    python examples/keras_mnist.py

`from tensorflow import keras` became `from minidl import keras`; nothing else differs.
Offline (only the MNIST test file at hand), keras.datasets.mnist.load_data() warns and
trains on the first 8,000 test images, evaluating on the last 2,000.
"""
from minidl import keras
from minidl.keras import layers

(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0
x_train = x_train.reshape(-1, 28, 28, 1)
x_test = x_test.reshape(-1, 28, 28, 1)

model = keras.Sequential([
    layers.Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)),
    layers.MaxPooling2D((2, 2)),
    layers.Flatten(),
    layers.Dense(128, activation='relu'),
    layers.Dense(10, activation='softmax'),
])

model.compile(optimizer='adam',
              loss='sparse_categorical_crossentropy',
              metrics=['accuracy'])

model.fit(x_train, y_train, epochs=5)

model.evaluate(x_test, y_test, verbose=2)

predictions = model.predict(x_test)
print(predictions[:10].argmax(axis=1))
