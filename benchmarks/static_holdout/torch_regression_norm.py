import numpy as np
import torch
from torch import nn

torch.manual_seed(0)

data = np.load("concrete_strength.npz")
x_train = torch.tensor(data["x_train"], dtype=torch.float32)
y_train = torch.tensor(data["y_train"], dtype=torch.float32).unsqueeze(1)
x_test = torch.tensor(data["x_test"], dtype=torch.float32)
y_test = torch.tensor(data["y_test"], dtype=torch.float32).unsqueeze(1)

x_train = (x_train - x_train.mean(0)) / x_train.std(0)
x_test = (x_test - x_test.mean(0)) / x_test.std(0)  # expect: MLC002

net = nn.Sequential(nn.Linear(x_train.shape[1], 64), nn.ReLU(), nn.Linear(64, 1))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
loss_fn = nn.MSELoss()

for _ in range(500):
    opt.zero_grad()
    loss = loss_fn(net(x_train), y_train)
    loss.backward()
    opt.step()

with torch.no_grad():
    test_mse = loss_fn(net(x_test), y_test).item()
print(f"test RMSE {test_mse**0.5:.2f}")
