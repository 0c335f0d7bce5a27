import { registry } from "@web/core/registry";
import { RadioField, radioField } from "@web/views/fields/radio/radio_field";

/**
 * Radio buttons offering only the choices the server computed for the record
 * (a Json list in the field named by the `choices_field` option), as core's
 * filterable_selection does for a dropdown: staff see no choice that would be
 * refused. The server checks again on Confirm.
 */
export class ChoiceRadioField extends RadioField {
    static props = {
        ...RadioField.props,
        choicesField: { type: String },
    };

    get items() {
        const choices = this.props.record.data[this.props.choicesField] || [];
        return super.items.filter(
            ([value]) => value === this.value || choices.includes(value)
        );
    }
}

export const choiceRadioField = {
    ...radioField,
    component: ChoiceRadioField,
    extractProps(fieldInfo, dynamicInfo) {
        return {
            ...radioField.extractProps(fieldInfo, dynamicInfo),
            choicesField: fieldInfo.options.choices_field,
        };
    },
};

registry.category("fields").add("client_refund_choice_radio", choiceRadioField);
