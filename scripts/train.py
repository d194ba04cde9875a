"""Train one model: `accelerate launch scripts/train.py --arch lstm --output_dir runs/lstm --max_steps 2000`.

Arguments are `lineage.training.TrainConfig` fields, as flags or in one
YAML/JSON file (`accelerate launch scripts/train.py config.yaml`).
"""

import sys

from lineage.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
