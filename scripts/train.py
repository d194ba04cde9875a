"""Train one model: `accelerate launch scripts/train.py --arch lstm --output_dir runs/lstm --max_steps 2000`.

Arguments are `pipelines.training.TrainConfig` fields, as flags or in one
YAML/JSON file (`accelerate launch scripts/train.py config.yaml`).
"""

import sys

from pipelines.training import end_distributed_process, parse_train_config, train

if __name__ == "__main__":
    train(parse_train_config(sys.argv[1:]))
    end_distributed_process()
